"""Roles, the create_user and bootstrap_demo commands, login, logout and login throttling."""
from __future__ import annotations

import stat

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import identify_hasher
from django.core.management import CommandError, call_command
from django.urls import reverse

from scoliosis_portal.roles import Role, user_roles
from tests.factories import PASSWORD

User = get_user_model()
STRONG = "Spine-xray-2026-ok"


@pytest.mark.django_db
@pytest.mark.parametrize("role", Role.values)
def test_create_user_puts_the_user_in_the_role(role):
    call_command("create_user", "dana", "--role", role, "--password", STRONG)
    user = User.objects.get(username="dana")
    # A senior reviewer is a reviewer with a flag (may adjudicate), so both groups.
    assert user_roles(user) == ({role, Role.REVIEWER} if role == Role.SENIOR_REVIEWER else {role})
    assert user.check_password(STRONG)
    assert user.is_staff == (role == Role.ADMIN) == user.is_superuser


@pytest.mark.django_db
def test_create_user_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_PASSWORD", STRONG)
    call_command("create_user", "erin", "--role", "reviewer")
    assert User.objects.get(username="erin").check_password(STRONG)


@pytest.mark.django_db
def test_create_user_prompts_when_no_password_is_given(monkeypatch):
    monkeypatch.delenv("PORTAL_PASSWORD", raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": STRONG)
    call_command("create_user", "fay", "--role", "clinician")
    assert User.objects.get(username="fay").check_password(STRONG)


@pytest.mark.django_db
def test_create_user_refuses_a_weak_password_and_an_existing_name(clinician):
    with pytest.raises(CommandError, match="Password rejected"):
        call_command("create_user", "gus", "--role", "clinician", "--password", "123")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", clinician.username, "--role", "clinician", "--password", STRONG)
    assert not User.objects.filter(username="gus").exists()


@pytest.mark.django_db
def test_create_user_refuses_an_unknown_role():
    with pytest.raises(CommandError):
        call_command("create_user", "hal", "--role", "superhero", "--password", STRONG)


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2_outside_tests(settings):
    from scoliosis_portal.settings import base

    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS
    call_command("create_user", "ivy", "--role", "clinician", "--password", STRONG)
    assert identify_hasher(User.objects.get(username="ivy").password).algorithm == "argon2"


@pytest.mark.django_db
def test_bootstrap_demo_creates_groups_and_users_once_with_private_password_file(tmp_path, capsys):
    path = tmp_path / "var" / "demo-passwords.txt"
    call_command("bootstrap_demo", "--password-file", str(path))
    assert str(path) in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().splitlines()
    lines = dict(line.split(": ", 1) for line in text if "TOTP" not in line)
    assert set(lines) == {"clinician", "reviewer", "admin"}
    assert any(line.startswith("admin TOTP secret") for line in text)  # admins need a second factor
    for username, role in (("clinician", "clinician"), ("reviewer", "reviewer"), ("admin", "admin")):
        user = User.objects.get(username=username)
        assert user.check_password(lines[username])
        assert role in user_roles(user)
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    before = path.read_text()
    call_command("bootstrap_demo", "--password-file", str(path))
    assert path.read_text() == before
    assert User.objects.count() == 3
    assert "already exist" in capsys.readouterr().out


@pytest.mark.django_db
def test_login_page_signs_in_and_logout_signs_out(client, clinician):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("cases:case_list")
    assert client.get(reverse("cases:case_list")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("cases:case_list")).status_code == 302


@pytest.mark.django_db
def test_wrong_password_shows_an_error(client, clinician):
    response = client.post(reverse("login"), {"username": clinician.username, "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out_even_with_the_right_password(settings, client, clinician):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": clinician.username, "password": "wrong"})
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert client.get(reverse("cases:case_list")).status_code == 302  # still signed out


@pytest.mark.django_db
def test_lockout_of_one_user_does_not_block_another_user_elsewhere(settings, client, clinician, other_clinician):
    """The locked username and the guessing address are locked; another user at another address is not."""
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post(reverse("login"), {"username": clinician.username, "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    response = client.post(reverse("login"), {"username": other_clinician.username, "password": PASSWORD},
                           REMOTE_ADDR="198.51.100.20")
    assert response.status_code == 302
