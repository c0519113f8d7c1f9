"""Password guessing as an attacker would try it: from ever-new addresses, one address against
many accounts, with forged X-Forwarded-For headers, through the token endpoint; and sessions
that are left open."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.client_ip import client_ip
from tests.factories import PASSWORD

LOGIN = "/login/"
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def _login(client, username: str, password: str, **meta):
    return client.post(LOGIN, {"username": username, "password": password}, **meta)


def test_guesses_from_a_new_address_each_time_still_lock_the_account(client, limit, clinician):
    for attempt in range(limit):
        _login(client, clinician.username, "wrong", REMOTE_ADDR=f"203.0.113.{attempt + 1}")
    response = _login(client, clinician.username, PASSWORD, REMOTE_ADDR="203.0.113.200")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_accounts_is_locked_out(client, limit, clinician):
    for attempt in range(limit):
        _login(client, f"someone-{attempt}", "wrong", REMOTE_ADDR="198.51.100.7")
    # Even the right password of a real account no longer works from that address...
    assert _login(client, clinician.username, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 429
    # ...while the account itself is not locked for its owner elsewhere.
    assert _login(client, clinician.username, PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 302


def test_forged_forwarded_for_does_not_give_new_addresses_behind_the_proxy(client, settings, limit, clinician):
    """Behind one proxy, the client writes the left part of X-Forwarded-For; the proxy appends the
    real address. Rotating the forged part must not reset the per-address counter."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "172.18.0.2"}
    for attempt in range(limit):
        _login(client, f"someone-{attempt}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{attempt}, 198.51.100.7", **proxy)
    response = _login(client, clinician.username, PASSWORD, HTTP_X_FORWARDED_FOR="10.1.1.1, 198.51.100.7", **proxy)
    assert response.status_code == 429


def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert client_ip(request) == "198.51.100.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.1, 198.51.100.7", "198.51.100.7"),  # forged left part ignored
        (2, "10.0.0.1, 198.51.100.7, 172.18.0.9", "198.51.100.7"),
        (2, "198.51.100.7", "172.18.0.2"),  # did not come through both proxies: socket address
        (1, "", "172.18.0.2"),
    ],
)
def test_client_address_is_counted_from_the_trusted_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="172.18.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_token_endpoint_failures_lock_the_login_page_too(client, limit, clinician):
    api = APIClient()
    for attempt in range(limit):
        api.post(TOKEN_URL, {"username": clinician.username, "password": "wrong"}, format="json",
                 REMOTE_ADDR=f"203.0.113.{attempt + 1}")
    response = api.post(TOKEN_URL, {"username": clinician.username, "password": PASSWORD}, format="json",
                        REMOTE_ADDR="203.0.113.99")
    assert response.status_code == 429 and '"token"' not in response.content.decode()
    assert _login(client, clinician.username, PASSWORD, REMOTE_ADDR="192.0.2.1").status_code == 429


def test_sessions_expire_after_eight_idle_hours_and_each_request_extends_them(settings, client, clinician):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600 and settings.SESSION_SAVE_EVERY_REQUEST
    assert _login(client, clinician.username, PASSWORD).status_code == 302
    key = client.session.session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + timedelta(minutes=5))
    assert client.get(reverse("cases:case_list")).status_code == 200
    remaining = Session.objects.get(pk=key).expire_date - timezone.now()
    assert remaining > timedelta(hours=7, minutes=59)  # the request moved the idle deadline on


def test_idle_session_past_its_deadline_is_signed_out(client, clinician):
    assert _login(client, clinician.username, PASSWORD).status_code == 302
    Session.objects.filter(pk=client.session.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("cases:case_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
