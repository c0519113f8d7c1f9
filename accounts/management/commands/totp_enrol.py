"""`manage.py totp_enrol USERNAME`: give an account a new TOTP authenticator from the command line.

For sites that turn self-enrolment off (ACCOUNTS_TOTP_SELF_ENROLMENT=false): whoever can run
manage.py hands the secret to the user in person. Any earlier device of the user is replaced.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import totp_device_enrol, totp_secret_base32


class Command(BaseCommand):
    help = "Create (or replace) the TOTP authenticator of a user and print its secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        device = totp_device_enrol(user=user, confirmed=True)
        self.stdout.write(f"TOTP secret for {username} (enter it in an authenticator app): "
                          f"{totp_secret_base32(device)}")
        self.stdout.write(f"Provisioning URI (QR code content): {device.config_url}")
