"""Signing test clients in the way a real sign-in leaves them: a page client with a session, an API
client authenticated as the user."""
from __future__ import annotations

import time

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

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


def page_client_for(user) -> Client:
    """A new Django test client signed in as `user` (None: anonymous), as the login page leaves it."""
    client = Client()
    if user is not None:
        sign_in(client, user)
    return client


def api_client_for(user) -> APIClient:
    """A new API client authenticated as `user` (None: anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client
