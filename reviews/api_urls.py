"""REST API routes of reviews, mounted under /api/v1/."""
from django.urls import path

from reviews import apis

app_name = "reviews_api"

urlpatterns = [
    path("review-queue/", apis.ReviewQueueApi.as_view(), name="review_queue"),
    path(
        "radiographs/<int:radiograph_id>/reviews/",
        apis.RadiographReviewsApi.as_view(),
        name="radiograph_reviews",
    ),
    path(
        "radiographs/<int:radiograph_id>/adjudication/",
        apis.RadiographAdjudicationApi.as_view(),
        name="radiograph_adjudication",
    ),
    path(
        "radiographs/<int:radiograph_id>/measurement-corrections/",
        apis.RadiographMeasurementCorrectionsApi.as_view(),
        name="radiograph_measurement_corrections",
    ),
    path("agreement/", apis.AgreementApi.as_view(), name="agreement"),
]
