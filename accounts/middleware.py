"""Admins reach nothing but the second-factor pages until they have entered a code."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.selectors import second_factor_required, second_factor_verified


class SecondFactorMiddleware:
    """After django-otp's OTPMiddleware. A session whose user needs a second factor and has not
    given one is sent to the code page (or to enrolment when no device exists yet); API calls on
    such a session get 403. Token-authenticated API calls are checked by ApiTokenAuthentication."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not self._exempt(request.path)
            and second_factor_required(user)
            and not second_factor_verified(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"status": 403, "code": "second_factor_required",
                               "message": "Enter the code from your authenticator at "
                                          f"{reverse('accounts:second_factor_verify')} first."}},
                    status=403,
                )
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('accounts:second_factor_verify')}?{query}")
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        exempt = (
            reverse("login"),
            reverse("logout"),
            reverse("accounts:second_factor_verify"),
            reverse("accounts:second_factor_setup"),
            reverse("healthz"),
            "/" + settings.STATIC_URL.lstrip("/"),
        )
        return path.startswith(exempt)
