"""`manage.py bootstrap_demo`: role groups and demo users clinician/reviewer/admin, if absent.

New demo users get random passwords, written to var/demo-passwords.txt (owner-only) and never
printed. The demo admin also gets a TOTP authenticator (admins sign in with a second factor): its
secret and provisioning URI go to the same file. Running it again changes nothing for users that
already exist, except that a demo admin without an authenticator gets one.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from accounts.services import totp_device_enrol, totp_secret_base32
from cases.services import roles_ensure, user_create
from scoliosis_portal.roles import Role

DEMO_USERS = (("clinician", Role.CLINICIAN), ("reviewer", Role.REVIEWER), ("admin", Role.ADMIN))


def default_password_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-passwords.txt"


class Command(BaseCommand):
    help = "Create the role groups and the demo users (with random passwords) if missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password-file", type=Path, default=None)

    def handle(self, *args, password_file: Path | None, **options) -> None:
        path = password_file or default_password_file()
        roles_ensure()
        users = get_user_model().objects
        created: list[tuple[str, str]] = []
        for username, role in DEMO_USERS:
            if users.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user_create(username=username, role=role, password=password)
            created.append((username, password))
        secrets_lines = [f"{username}: {password}" for username, password in created]
        secrets_lines += _demo_admin_authenticator()
        if secrets_lines:
            _append_lines(path, secrets_lines)
        if any("TOTP" in line for line in secrets_lines):
            self.stdout.write(f"The demo admin signs in with a one-time code: its TOTP secret is in {path}")
        if created:
            names = ", ".join(name for name, _ in created)
            self.stdout.write(f"Created demo users {names}; their passwords are in {path}")
        else:
            self.stdout.write(f"Demo users already exist; their passwords are in {path}")


def _demo_admin_authenticator() -> list[str]:
    """A TOTP device for the demo admin if it has none; the lines that tell how to use it."""
    from django_otp import user_has_device

    admin = get_user_model().objects.filter(username="admin").first()
    if admin is None or user_has_device(admin, confirmed=True):
        return []
    device = totp_device_enrol(user=admin, confirmed=True)
    return [
        f"admin TOTP secret (add to an authenticator app, or `oathtool --totp -b SECRET`): "
        f"{totp_secret_base32(device)}",
        f"admin TOTP provisioning URI: {device.config_url}",
    ]


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        for line in lines:
            handle.write(f"{line}\n")
    os.chmod(path, 0o600)  # also when the file existed with wider permissions
