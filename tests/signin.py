"""Signing test clients in the way a real sign-in leaves them."""
from __future__ import annotations

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.selectors import second_factor_required
from accounts.services import totp_device_enrol


def totp_device_for(user) -> TOTPDevice:
    """The user's confirmed authenticator, enrolled now if they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or totp_device_enrol(user=user, confirmed=True)


def totp_code_now(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """What the user's authenticator app shows now (offset_steps=-1: the code of one step ago)."""
    otp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    otp.time = time.time() + offset_steps * device.step
    return str(otp.token()).zfill(device.digits)


def sign_in(client, user):
    """A session for `user` with the password step done and, for accounts that need one (admins),
    the second factor verified, as after the login page and the code page."""
    client.force_login(user)
    if second_factor_required(user):
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = totp_device_for(user).persistent_id
        session.save()
    return client
