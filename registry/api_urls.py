"""REST API routes of the registry, mounted under /api/v1/."""
from django.urls import path

from registry import apis

app_name = "registry_api"

urlpatterns = [
    path("models/", apis.ModelVersionListApi.as_view(), name="model_version_list"),
    path("models/<int:model_version_id>/", apis.ModelVersionDetailApi.as_view(), name="model_version_detail"),
    path(
        "models/<int:model_version_id>/activate/",
        apis.ModelVersionActivateApi.as_view(),
        name="model_version_activate",
    ),
    path(
        "models/<int:model_version_id>/activation-risks/",
        apis.ModelVersionActivationRisksApi.as_view(),
        name="model_version_activation_risks",
    ),
    path(
        "models/<int:model_version_id>/rollback/",
        apis.ModelVersionRollbackApi.as_view(),
        name="model_version_rollback",
    ),
]
