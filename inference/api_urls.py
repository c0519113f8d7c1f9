"""REST API routes of inference and review, mounted under /api/v1/."""
from django.urls import path

from cases.reviews import apis as review_apis
from inference import apis

app_name = "inference_api"

urlpatterns = [
    path("predictions/<int:prediction_id>/", apis.PredictionDetailApi.as_view(), name="prediction_detail"),
    path(
        "predictions/<int:prediction_id>/gradcam/",
        apis.PredictionGradcamApi.as_view(),
        name="prediction_gradcam",
    ),
    path("review-queue/", review_apis.ReviewQueueApi.as_view(), name="review_queue"),
    path(
        "radiographs/<int:radiograph_id>/reviews/",
        review_apis.RadiographReviewsApi.as_view(),
        name="radiograph_reviews",
    ),
    path(
        "radiographs/<int:radiograph_id>/adjudication/",
        review_apis.RadiographAdjudicationApi.as_view(),
        name="radiograph_adjudication",
    ),
    path("agreement/", review_apis.AgreementApi.as_view(), name="agreement"),
]
