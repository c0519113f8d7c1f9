"""Pages of the cases app, mounted at the site root."""
from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("cases/new/", views.case_create_view, name="case_create"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/edit/", views.case_edit, name="case_edit"),
    path(
        "cases/<int:case_id>/radiographs/", views.radiograph_upload_view, name="radiograph_upload"
    ),
    path("radiographs/<int:radiograph_id>/", views.radiograph_detail, name="radiograph_detail"),
    path("audit/", views.audit_log, name="audit_log"),
]
