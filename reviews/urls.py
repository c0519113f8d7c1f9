"""Pages of the review queue, mounted under /inference/ (their paths predate the reviews app)."""
from django.urls import path

from reviews import views

app_name = "reviews"
urlpatterns = [
    path("review/", views.review_queue, name="review_queue"),
    path("review/radiographs/<int:radiograph_id>/", views.review_read, name="review_read"),
    path("review/radiographs/<int:radiograph_id>/measurement/", views.measurement_correct, name="measurement_correct"),
    path("review/agreement/", views.agreement, name="agreement"),
]
