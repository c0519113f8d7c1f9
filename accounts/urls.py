"""Sign-in pages of the accounts app (the login/logout views themselves are Django's)."""
from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("second-factor/", views.second_factor_verify, name="second_factor_verify"),
    path("second-factor/setup/", views.second_factor_setup, name="second_factor_setup"),
]
