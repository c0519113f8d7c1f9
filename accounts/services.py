"""Writes of the accounts app: API tokens and TOTP devices."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken

TOTP_DEVICE_NAME = "authenticator"


def api_token_issue(*, user, second_factor: bool) -> tuple[ApiToken, str]:
    """A new token for `user`, expiring after REST_KNOX['TOKEN_TTL']. Returns (row, key); the key
    is not stored, so this is the only moment it exists outside the client. The user's expired
    tokens are deleted here."""
    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return ApiToken.objects.create(user=user, second_factor=second_factor)


def api_tokens_revoke(*, user) -> int:
    """Delete every API token of `user` (password changed, account deactivated, signed out)."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


@transaction.atomic
def totp_device_enrol(*, user, confirmed: bool = False) -> TOTPDevice:
    """A fresh TOTP secret for `user`. Unconfirmed devices left from an earlier attempt are
    dropped; a confirmed device is replaced only when `confirmed` is asked for (an admin's
    re-enrolment from the command line)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    if confirmed:
        TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=confirmed)


def totp_device_confirm(*, device: TOTPDevice, code: str) -> bool:
    """Confirm an enrolment with a first code from the authenticator (proves the secret was copied)."""
    if not device.verify_token(code.strip()):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in (RFC 4648 base32, no padding)."""
    from base64 import b32encode

    return b32encode(device.bin_key).decode("ascii").rstrip("=")
