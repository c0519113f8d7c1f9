"""REST API routes of inference, mounted under /api/v1/."""
from django.urls import path

from inference import apis

app_name = "inference_api"

urlpatterns = [
    path("predictions/<int:prediction_id>/", apis.PredictionDetailApi.as_view(), name="prediction_detail"),
    path(
        "predictions/<int:prediction_id>/gradcam/",
        apis.PredictionGradcamApi.as_view(),
        name="prediction_gradcam",
    ),
    path("measurements/<int:measurement_id>/", apis.MeasurementDetailApi.as_view(), name="measurement_detail"),
    path(
        "measurements/<int:measurement_id>/overlay/",
        apis.MeasurementOverlayApi.as_view(),
        name="measurement_overlay",
    ),
]
