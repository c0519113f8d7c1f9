from django.urls import path

from inference import views

app_name = "inference"
urlpatterns = [
    path(
        "radiographs/<int:radiograph_id>/prediction/",
        views.prediction_panel,
        name="prediction_panel",
    ),
]
