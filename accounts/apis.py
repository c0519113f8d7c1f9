"""API tokens: `POST /api/v1/auth/token/` with a username and password (and `otp_token` for
accounts with a second factor) answers {"token", "expiry"}. Send it as `Authorization: Token ...`."""
from __future__ import annotations

from django.contrib.auth import authenticate
from django_otp import match_token, user_has_device
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.selectors import second_factor_required
from accounts.services import api_token_issue


class LockedOutError(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"
    default_detail = "Too many failed sign-in attempts. Try again later."


class SecondFactorRequiredError(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "second_factor_required"
    default_detail = "This account needs a second factor: send `otp_token`, the code from its authenticator."


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token that expires (see `expiry`).

    Failed attempts count towards the same lockout as the login page (per username and per client
    address), and the endpoint is rate-limited per address (throttle scope `auth_token`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=4096)
        otp_token = serializers.CharField(required=False, allow_blank=True, max_length=8,
                                          help_text="One-time code; required for admin accounts.")

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField(),
                                                    "expiry": serializers.DateTimeField()})},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = {k: data.validated_data[k] for k in ("username", "password")}
        # django-axes needs the Django request to count failures per username and per address.
        user = authenticate(request._request, **credentials)
        if getattr(request._request, "axes_locked_out", False):
            raise LockedOutError()
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": ["Unable to sign in with these credentials."]})
        second_factor = False
        if second_factor_required(user):
            if not user_has_device(user, confirmed=True):
                raise exceptions.PermissionDenied(
                    "This account needs a second factor and has none yet: sign in on the site to set "
                    "one up, or ask an administrator to run `manage.py totp_enrol`."
                )
            code = data.validated_data.get("otp_token", "").strip()
            if not code:
                raise SecondFactorRequiredError()
            if match_token(user, code) is None:
                raise serializers.ValidationError({"otp_token": ["That code is wrong or has expired."]})
            second_factor = True
        token, key = api_token_issue(user=user, second_factor=second_factor)
        return Response({"token": key, "expiry": token.expiry})


class TokenRevokeApi(APIView):
    """Revoke the token this request is authenticated with (sign out of the API)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
