"""REST API routes of the cases app, mounted under /api/v1/."""
from django.urls import path

from cases import apis
from scoliosis_portal.routes import object_routes

app_name = "cases_api"

urlpatterns = [
    *object_routes("cases/", "case", list=apis.CaseListCreateApi, detail=apis.CaseDetailApi),
    path(
        "cases/<int:case_id>/radiographs/",
        apis.RadiographUploadApi.as_view(),
        name="radiograph_upload",
    ),
    *object_routes(
        "radiographs/",
        "radiograph",
        detail=apis.RadiographDetailApi,
        image=apis.RadiographImageApi,
        thumbnail=apis.RadiographThumbnailApi,
        pixels=apis.RadiographPixelsApi,
        dicom=apis.RadiographDicomApi,
    ),
]
