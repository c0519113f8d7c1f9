"""REST API routes of the training app, mounted under /api/v1/ (the registry's are in
registry.api_urls)."""
from django.urls import path

from training import apis

urlpatterns: list = [
    path("models/<int:model_version_id>/reread-open-cases/", apis.ModelVersionRereadApi.as_view(),
         name="model-version-reread"),
    path("training-runs/", apis.TrainingRunListCreateApi.as_view(), name="training-run-list"),
    path("training-runs/<int:training_run_id>/", apis.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("training-runs/<int:training_run_id>/cancel/", apis.TrainingRunCancelApi.as_view(),
         name="training-run-cancel"),
]
