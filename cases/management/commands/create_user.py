"""`manage.py create_user NAME --role ROLE [--password P]`.

The password comes from --password, else the PORTAL_PASSWORD environment variable, else a prompt.
"""
from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.services import user_create
from scoliosis_portal.roles import Role


class Command(BaseCommand):
    help = "Create a user in one role (clinician, reviewer, senior_reviewer or admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="Else $PORTAL_PASSWORD, else prompted.")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, role: str, password: str | None, email: str, **options) -> None:
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        password = password or os.environ.get("PORTAL_PASSWORD") or self._prompt()
        candidate = get_user_model()(username=username, email=email)
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
        user_create(username=username, role=role, password=password, email=email)
        self.stdout.write(self.style.SUCCESS(f"Created {role} {username!r}."))

    def _prompt(self) -> str:
        try:
            first = getpass.getpass("Password: ")
            second = getpass.getpass("Password (again): ")
        except (EOFError, KeyboardInterrupt) as exc:
            raise CommandError("No password given.") from exc
        if first != second:
            raise CommandError("The passwords do not match.")
        if not first:
            raise CommandError("No password given.")
        return first
