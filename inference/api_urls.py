"""REST API routes of inference, mounted under /api/v1/."""
from inference import apis
from scoliosis_portal.routes import object_routes

app_name = "inference_api"

urlpatterns = [
    *object_routes("predictions/", "prediction", detail=apis.PredictionDetailApi, gradcam=apis.PredictionGradcamApi),
    *object_routes(
        "measurements/", "measurement", detail=apis.MeasurementDetailApi, overlay=apis.MeasurementOverlayApi
    ),
]
