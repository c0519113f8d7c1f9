"""`manage.py bootstrap_demo`: role groups and demo users clinician/reviewer/admin, if absent.

New demo users get random passwords, written to var/demo-passwords.txt (owner-only) and never
printed. Running it again changes nothing for users that already exist.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

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
        if created:
            _append_passwords(path, created)
            names = ", ".join(name for name, _ in created)
            self.stdout.write(f"Created demo users {names}; their passwords are in {path}")
        else:
            self.stdout.write(f"Demo users already exist; their passwords are in {path}")


def _append_passwords(path: Path, entries: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        for username, password in entries:
            handle.write(f"{username}: {password}\n")
    os.chmod(path, 0o600)  # also when the file existed with wider permissions
