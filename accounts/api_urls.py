"""Token routes, mounted under /api/v1/."""
from django.urls import path

from accounts import apis

app_name = "accounts_api"

urlpatterns = [
    path("auth/token/", apis.TokenObtainApi.as_view(), name="token"),
    path("auth/token/revoke/", apis.TokenRevokeApi.as_view(), name="token_revoke"),
]
