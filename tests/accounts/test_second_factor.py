"""Admin accounts sign in with a password and a TOTP code. Tried as someone who has an admin's
password but not their authenticator."""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.support import assert_pages_show_none_of
from tests.factories import PASSWORD
from tests.signin import totp_code_now, totp_device_for

VERIFY = "/account/second-factor/"
SETUP = "/account/second-factor/setup/"
ADMIN_PAGES = ["/admin/", "/training/", "/inference/review/agreement/", "/audit/"]


def _password_login(client, user):
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return response


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_with_only_the_password_reaches_no_admin_page(client, admin_user, url):
    totp_device_for(admin_user)
    _password_login(client, admin_user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)


def test_admin_with_only_the_password_gets_no_admin_api_on_the_session(client, admin_user):
    totp_device_for(admin_user)
    _password_login(client, admin_user)
    response = client.get("/api/v1/training-runs/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "second_factor_required"


def test_admin_login_asks_for_the_code_then_opens_the_admin(client, admin_user):
    device = totp_device_for(admin_user)
    _password_login(client, admin_user)
    response = client.get("/training/")
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"one-time code" in page.content
    response = client.post(VERIFY, {"code": totp_code_now(device), "next": "/training/"})
    assert response.status_code == 302 and response["Location"] == "/training/"
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 200, url


def test_a_wrong_code_leaves_the_admin_outside(client, admin_user):
    device = totp_device_for(admin_user)
    _password_login(client, admin_user)
    wrong = f"{(int(totp_code_now(device)) + 1) % 1_000_000:06d}"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 200 and b"wrong or has expired" in response.content
    assert client.get("/admin/").status_code == 302


def test_admin_without_a_device_is_sent_to_enrol_and_gets_in_after_confirming(client, admin_user):
    _password_login(client, admin_user)
    response = client.get(client.get("/training/")["Location"])
    assert response.status_code == 302 and response["Location"].startswith(SETUP)
    page = client.get(SETUP)
    assert page.status_code == 200
    uri = re.search(r'data-field="provisioning-uri">([^<]+)<', page.content.decode()).group(1)
    assert uri.startswith("otpauth://totp/")
    assert client.get("/training/").status_code == 302  # enrolment not finished yet
    device = TOTPDevice.objects.get(user=admin_user)
    assert not device.confirmed
    response = client.post(SETUP, {"code": totp_code_now(device), "next": "/training/"})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/training/").status_code == 200


def test_without_self_enrolment_an_admin_without_device_is_told_to_ask(settings, client, admin_user):
    settings.ACCOUNTS_TOTP_SELF_ENROLMENT = False
    _password_login(client, admin_user)
    page = client.get(SETUP)
    assert b"totp_enrol" in page.content
    assert not TOTPDevice.objects.filter(user=admin_user).exists()
    assert client.get("/admin/").status_code == 302


def test_totp_enrol_command_prints_a_secret_that_signs_in(client, admin_user, capsys):
    call_command("totp_enrol", admin_user.username)
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out
    device = TOTPDevice.objects.get(user=admin_user, confirmed=True)
    _password_login(client, admin_user)
    assert client.post(VERIFY, {"code": totp_code_now(device)}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_clinicians_are_not_asked_for_a_code(client, clinician):
    _password_login(client, clinician)
    assert client.get(reverse("cases:case_list")).status_code == 200


def test_django_admin_itself_requires_a_verified_device(rf, admin_user):
    """Defence in depth under the middleware: the admin site is django-otp's."""
    assert isinstance(admin.site, OTPAdminSite)
    request = rf.get("/admin/")
    request.user = admin_user
    request.user.is_verified = lambda: False
    assert not admin.site.has_permission(request)


def test_verify_page_does_not_redirect_off_site(client, admin_user):
    device = totp_device_for(admin_user)
    _password_login(client, admin_user)
    response = client.post(VERIFY, {"code": totp_code_now(device), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("cases:case_list")


def test_admin_pages_never_show_an_authenticator_secret(client_as, admin_user, clinician):
    from accounts.services import totp_secret_base32

    device = totp_device_for(admin_user)
    client = client_as(admin_user)
    assert_pages_show_none_of(
        client,
        [reverse("admin:otp_totp_totpdevice_changelist"), reverse("admin:otp_totp_totpdevice_change", args=[device.pk])],
        [device.key, totp_secret_base32(device)],
    )
    assert client.get(reverse("admin:otp_totp_totpdevice_config", args=[device.pk])).status_code == 403
