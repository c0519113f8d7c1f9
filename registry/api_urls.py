"""REST API routes of the registry, mounted under /api/v1/."""
from registry import apis
from scoliosis_portal.routes import object_routes

app_name = "registry_api"

urlpatterns = object_routes(
    "models/",
    "model_version",
    list=apis.ModelVersionListApi,
    detail=apis.ModelVersionDetailApi,
    activate=apis.ModelVersionActivateApi,
    activation_risks=apis.ModelVersionActivationRisksApi,
    rollback=apis.ModelVersionRollbackApi,
)
