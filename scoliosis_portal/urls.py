from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from scoliosis_portal.health import healthz

# The Django admin asks for a verified second factor (django-otp), not only is_staff.
admin.site.__class__ = OTPAdminSite

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both need an authenticated user (token or session: SPECTACULAR_SETTINGS SERVE_PERMISSIONS).
    # The split view serves its start-up script as a file: no inline script (CSP script-src 'self').
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # Every app's endpoints side by side under /api/v1/ (each app's api_urls has its namespace).
    *(path("", include(f"{app}.api_urls")) for app in ("accounts", "cases", "registry", "inference", "reviews", "training")),
]

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("accounts.urls")),
    path("api/v1/", include(api_v1)),
    path("", include("cases.urls")),
    path("", include("reviews.read_urls")),
    path("inference/", include("inference.urls")),
    # Review pages keep their /inference/review/ paths; their names are in the reviews namespace.
    path("inference/", include("reviews.urls")),
    # The registry's pages keep their /training/models/ paths; their names are in the registry
    # namespace. The models page that lists the versions is training's (it shows the runs too).
    path("training/models/", include("registry.urls")),
    path("training/", include("training.urls")),
]
