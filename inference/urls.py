from django.urls import path

from cases.reviews import views as review_views
from inference import views

app_name = "inference"
urlpatterns = [
    path(
        "radiographs/<int:radiograph_id>/prediction/",
        views.prediction_panel,
        name="prediction_panel",
    ),
    path("review/", review_views.review_queue, name="review_queue"),
    path("review/radiographs/<int:radiograph_id>/", review_views.review_read, name="review_read"),
    path("review/agreement/", review_views.agreement, name="agreement"),
]
