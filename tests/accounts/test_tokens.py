"""API tokens as the people who would abuse them: a thief holding a stolen token, a client
holding an old one, a demoted or disabled account, an admin without a second factor."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import ApiToken
from tests.accounts.support import assert_pages_show_none_of
from tests.factories import PASSWORD
from tests.signin import sign_in, totp_code_now, totp_device_for

TOKEN_URL = "/api/v1/auth/token/"
CASES_URL = "/api/v1/cases/"
ADMIN_ONLY_URL = "/api/v1/training-runs/"


def _ask_token(username: str, password: str = PASSWORD, **extra) -> APIClient.response:
    return APIClient().post(TOKEN_URL, {"username": username, "password": password, **extra}, format="json")


def _client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_token_answer_keeps_its_shape_with_an_expiry_eight_hours_ahead(clinician):
    before = timezone.now()
    response = _ask_token(clinician.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    expiry = timezone.datetime.fromisoformat(body["expiry"].replace("Z", "+00:00"))
    assert timedelta(hours=8) - timedelta(minutes=1) < expiry - before <= timedelta(hours=8, minutes=1)
    assert _client_with(body["token"]).get(CASES_URL).status_code == 200


def test_the_database_holds_only_a_digest_of_the_token(clinician):
    key = _ask_token(clinician.username).json()["token"]
    row = ApiToken.objects.get(user=clinician)
    assert key not in {row.digest, row.token_key} and len(row.token_key) < len(key)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        assert not any(key in str(value) for value in cursor.fetchone())


@pytest.mark.django_db
def test_drf_plain_text_tokens_are_gone():
    assert not apps.is_installed("rest_framework.authtoken")
    assert "authtoken_token" not in connection.introspection.table_names()


def test_token_lifetime_is_a_setting(settings, clinician):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(minutes=5)}
    body = _ask_token(clinician.username).json()
    expiry = timezone.datetime.fromisoformat(body["expiry"].replace("Z", "+00:00"))
    assert expiry - timezone.now() <= timedelta(minutes=5)


def test_expired_token_is_refused_and_deleted(clinician):
    key = _ask_token(clinician.username).json()["token"]
    ApiToken.objects.filter(user=clinician).update(expiry=timezone.now() - timedelta(seconds=1))
    assert _client_with(key).get(CASES_URL).status_code == 401
    assert not ApiToken.objects.filter(user=clinician).exists()


def test_stolen_token_stops_working_when_the_owner_changes_password(clinician):
    stolen = _ask_token(clinician.username).json()["token"]
    thief = _client_with(stolen)
    assert thief.get(CASES_URL).status_code == 200
    clinician.set_password("a-brand-new-passphrase-77")
    clinician.save()
    assert thief.get(CASES_URL).status_code == 401
    assert not ApiToken.objects.filter(user=clinician).exists()


def test_saving_a_user_without_changing_the_password_keeps_their_tokens(clinician):
    key = _ask_token(clinician.username).json()["token"]
    clinician.first_name = "Alice"
    clinician.save()
    assert _client_with(key).get(CASES_URL).status_code == 200


def test_token_of_a_deactivated_account_stops_working(clinician):
    key = _ask_token(clinician.username).json()["token"]
    clinician.is_active = False
    clinician.save()
    assert _client_with(key).get(CASES_URL).status_code == 401
    assert not ApiToken.objects.filter(user=clinician).exists()


def test_revoked_token_stops_working(clinician):
    client = _client_with(_ask_token(clinician.username).json()["token"])
    assert client.post(reverse("accounts_api:token_revoke")).status_code == 204
    assert client.get(CASES_URL).status_code == 401


def test_admin_cannot_get_a_token_with_the_password_alone(admin_user):
    totp_device_for(admin_user)
    response = _ask_token(admin_user.username)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "second_factor_required"
    assert not ApiToken.objects.filter(user=admin_user).exists()


def test_admin_with_a_wrong_code_gets_no_token(admin_user):
    device = totp_device_for(admin_user)
    wrong = f"{(int(totp_code_now(device)) + 1) % 1_000_000:06d}"
    response = _ask_token(admin_user.username, otp_token=wrong)
    assert response.status_code == 400
    assert "token" not in response.json()


def test_admin_without_an_authenticator_is_told_to_set_one_up(admin_user):
    response = _ask_token(admin_user.username, otp_token="123456")
    assert response.status_code == 403
    assert "totp_enrol" in response.json()["error"]["message"]


def test_admin_token_with_the_code_reaches_admin_apis(admin_user):
    response = _ask_token(admin_user.username, otp_token=totp_code_now(totp_device_for(admin_user)))
    assert response.status_code == 200
    assert _client_with(response.json()["token"]).get(ADMIN_ONLY_URL).status_code == 200


def test_token_issued_before_promotion_to_admin_is_refused(clinician):
    """A clinician's token (no second factor) must not become an admin token when they are promoted."""
    key = _ask_token(clinician.username).json()["token"]
    clinician.groups.add(Group.objects.get_or_create(name="admin")[0])
    response = _client_with(key).get(ADMIN_ONLY_URL)
    assert response.status_code == 401
    assert "second factor" in response.json()["error"]["message"]


def test_token_endpoint_is_rate_limited_per_address_whatever_the_usernames(monkeypatch, clinician, reviewer):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth_token": "3/minute"})
    for username in ("nobody-1", "nobody-2", "nobody-3"):
        assert _ask_token(username, "guess").status_code == 400
    response = _ask_token(reviewer.username)  # right password, but over the rate
    assert response.status_code == 429
    assert "token" not in response.json()


def test_admin_pages_never_show_token_keys(client_as, admin_user, clinician):
    key = _ask_token(clinician.username).json()["token"]
    row = ApiToken.objects.get(user=clinician)
    client = client_as(admin_user)
    assert_pages_show_none_of(
        client,
        [reverse("admin:accounts_apitoken_changelist"), reverse("admin:accounts_apitoken_change", args=[row.pk])],
        [key, key[:8], row.digest[:16]],
    )
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_other_authorization_schemes_are_not_taken_for_tokens(clinician, scheme):
    key = _ask_token(clinician.username).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    assert client.get(CASES_URL).status_code in (401, 403)


def test_session_sign_in_helper_matches_a_real_admin_sign_in(client, admin_user):
    """The suite's sign_in() gives admins a verified session; check it opens the admin like a real one."""
    assert sign_in(client, admin_user).get(reverse("admin:index")).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_migration_drops_the_plain_text_tokens_of_an_upgraded_database():
    """A database that ran DRF's authtoken keeps its clear-text keys unless the migration drops them."""
    import importlib

    from django.apps import apps as global_apps
    from django.contrib.contenttypes.models import ContentType

    migration = importlib.import_module("accounts.migrations.0002_remove_drf_authtoken")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer)")
        cursor.execute("INSERT INTO authtoken_token VALUES ('plain-text-key', 1)")
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', now())")
    ContentType.objects.create(app_label="authtoken", model="token")
    with connection.schema_editor() as editor:
        migration.remove_authtoken(global_apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    assert not ContentType.objects.filter(app_label="authtoken").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone()[0] == 0
