"""Pages of the cases app, mounted at the site root."""
from django.urls import path

from cases import views
from scoliosis_portal.routes import object_routes

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("cases/new/", views.case_create_view, name="case_create"),
    *object_routes("cases/", "case", detail=views.case_detail, edit=views.case_edit),
    path(
        "cases/<int:case_id>/radiographs/", views.radiograph_upload_view, name="radiograph_upload"
    ),
    *object_routes("radiographs/", "radiograph", detail=views.radiograph_detail),
    path("audit/", views.audit_log, name="audit_log"),
]
