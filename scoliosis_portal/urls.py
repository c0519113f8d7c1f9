from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scoliosis_portal.health import healthz

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("cases.api_urls")),
    path("", include("registry.api_urls")),
    path("", include("inference.api_urls")),
    path("", include("reviews.api_urls")),
    path("", include("training.api_urls")),
]

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("", include("cases.urls")),
    path("inference/", include("inference.urls")),
    # Review pages keep their /inference/review/ paths; their names are in the reviews namespace.
    path("inference/", include("reviews.urls")),
    path("training/", include("training.urls")),
]
