"""Pages of the reads a clinician follows (live film states, the printed report) and of
adjudication. Mounted at the site root as namespace `reads`."""
from django.urls import path

from reviews import adjudication_views, case_views

app_name = "reads"

urlpatterns = [
    path("cases/<int:case_id>/status/", case_views.case_status, name="case_status"),
    path("cases/<int:case_id>/report.pdf", case_views.case_report, name="case_report"),
    path("review/adjudication/", adjudication_views.dispute_list, name="dispute_list"),
    path(
        "review/adjudication/<int:radiograph_id>/",
        adjudication_views.dispute_settle,
        name="dispute_settle",
    ),
]
