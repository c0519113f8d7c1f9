"""REST API routes of the training app, mounted under /api/v1/."""
from django.urls import path

from training import apis

urlpatterns: list = [
    path("models/", apis.ModelVersionListApi.as_view(), name="model-version-list"),
    path("models/<int:model_version_id>/", apis.ModelVersionDetailApi.as_view(), name="model-version-detail"),
    path("models/<int:model_version_id>/activate/", apis.ModelVersionActivateApi.as_view(),
         name="model-version-activate"),
    path("models/<int:model_version_id>/activation-risks/", apis.ModelVersionActivationRisksApi.as_view(),
         name="model-version-activation-risks"),
    path("models/<int:model_version_id>/rollback/", apis.ModelVersionRollbackApi.as_view(),
         name="model-version-rollback"),
    path("models/<int:model_version_id>/reread-open-cases/", apis.ModelVersionRereadApi.as_view(),
         name="model-version-reread"),
    path("training-runs/", apis.TrainingRunListCreateApi.as_view(), name="training-run-list"),
    path("training-runs/<int:training_run_id>/", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("training-runs/<int:training_run_id>/cancel/", apis.TrainingRunCancelApi.as_view(),
         name="training-run-cancel"),
]
