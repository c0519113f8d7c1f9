"""REST API routes of reviews, mounted under /api/v1/."""
from django.urls import path

from reviews import apis
from scoliosis_portal.routes import object_routes

app_name = "reviews_api"

urlpatterns = [
    path("review-queue/", apis.ReviewQueueApi.as_view(), name="review_queue"),
    # A radiograph's reads, adjudication and Cobb corrections.
    *object_routes(
        "radiographs/",
        "radiograph",
        reviews=apis.RadiographReviewsApi,
        adjudication=apis.RadiographAdjudicationApi,
        measurement_corrections=apis.RadiographMeasurementCorrectionsApi,
    ),
    path("agreement/", apis.AgreementApi.as_view(), name="agreement"),
]
