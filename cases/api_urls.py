"""REST API routes of the cases app, mounted under /api/v1/."""
from django.urls import path

from cases import apis

app_name = "cases_api"

urlpatterns = [
    path("cases/", apis.CaseListCreateApi.as_view(), name="case_list"),
    path("cases/<int:case_id>/", apis.CaseDetailApi.as_view(), name="case_detail"),
    path(
        "cases/<int:case_id>/radiographs/",
        apis.RadiographUploadApi.as_view(),
        name="radiograph_upload",
    ),
    path(
        "radiographs/<int:radiograph_id>/",
        apis.RadiographDetailApi.as_view(),
        name="radiograph_detail",
    ),
    path(
        "radiographs/<int:radiograph_id>/image/",
        apis.RadiographImageApi.as_view(),
        name="radiograph_image",
    ),
    path(
        "radiographs/<int:radiograph_id>/thumbnail/",
        apis.RadiographThumbnailApi.as_view(),
        name="radiograph_thumbnail",
    ),
    path(
        "radiographs/<int:radiograph_id>/pixels/",
        apis.RadiographPixelsApi.as_view(),
        name="radiograph_pixels",
    ),
    path(
        "radiographs/<int:radiograph_id>/dicom/",
        apis.RadiographDicomApi.as_view(),
        name="radiograph_dicom",
    ),
]
