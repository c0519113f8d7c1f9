"""The second sign-in step (a TOTP code) and self-enrolment of an authenticator."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.forms import OneTimeCodeForm
from accounts.services import totp_device_confirm, totp_device_enrol, totp_secret_base32


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


@never_cache
@login_required
def second_factor_verify(request: HttpRequest) -> HttpResponse:
    if not user_has_device(request.user, confirmed=True):
        return redirect(f"{reverse('accounts:second_factor_setup')}?{request.GET.urlencode()}")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # django-otp throttles each device: every wrong code doubles the wait before the next try.
        device = match_token(request.user, form.cleaned_data["code"].strip())
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("code", "That code is wrong or has expired. Wait for the next one and try again.")
    return render(request, "accounts/second_factor_verify.html", {"form": form, "next": _next_url(request)})


@never_cache
@login_required
def second_factor_setup(request: HttpRequest) -> HttpResponse:
    if user_has_device(request.user, confirmed=True):
        return redirect("accounts:second_factor_verify")
    if not settings.ACCOUNTS_TOTP_SELF_ENROLMENT:
        return render(request, "accounts/second_factor_setup.html", {"self_enrolment": False})
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = totp_device_enrol(user=request.user)
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_device_confirm(device=device, code=form.cleaned_data["code"]):
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("code", "That code does not match. Check the secret and the clock of the device.")
    context = {
        "self_enrolment": True,
        "form": form,
        "secret": totp_secret_base32(device),
        "provisioning_uri": device.config_url,
        "next": _next_url(request),
    }
    return render(request, "accounts/second_factor_setup.html", context)
