"""Pages of training runs, at /training/. The registry's actions on the models page (activate,
roll back, plots) sit beside them at /training/models/ in the registry namespace (registry.urls)."""
from django.urls import path

from training import views

app_name = "training"
urlpatterns: list = [
    path("", views.models_page, name="models"),
    path("runs/", views.training_run_start, name="run_start"),
    path("runs/landmarks/", views.landmark_training_run_start, name="landmark_run_start"),
    path("runs/<int:training_run_id>/", views.training_run_detail, name="run_detail"),
    path("runs/<int:training_run_id>/cancel/", views.training_run_cancel, name="run_cancel"),
    path("models/<int:model_version_id>/reread/", views.model_version_reread, name="reread"),
    path("export/confirmed-labels.zip", views.confirmed_labels_export_view, name="export"),
]
