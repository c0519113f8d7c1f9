"""Pages of the model registry. Mounted at /training/models/ (scoliosis_portal.urls), where the
admin's models page has always had them; the page itself is the training app's (it shows the
training runs too) and shows the versions through registry.views.model_versions_context."""
from django.urls import path

from registry import views

app_name = "registry"
urlpatterns: list = [
    path("rollback/", views.model_version_rollback, name="rollback"),
    path("<int:model_version_id>/activate/", views.model_version_activate, name="activate"),
    path("<int:model_version_id>/plots/<slug:name>.png", views.model_version_plot, name="plot"),
]
