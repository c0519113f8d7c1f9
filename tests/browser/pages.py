"""Signing a persona in, in the suite's browser (tests/browser/chromium.py, the `browser` fixture).

Through the login page as a person does (`sign_in_through_the_form`, `signed_in_page`) when the
sign-in is part of what the test covers; with a test client's session cookie (`page_with_session`)
when only what comes after it is.
"""
from __future__ import annotations

from django.test import Client

from accounts.selectors import second_factor_required
from tests.factories import PASSWORD
from tests.signin import sign_in, totp_code_now, totp_device_for

# A clinic laptop's screen: "inside the first viewport" in these tests means inside this.
VIEWPORT = {"width": 1366, "height": 768}


def sign_in_through_the_form(page, live_server, user) -> None:
    """The login page, filled in as `user`; admins then give their authenticator's code
    (django-otp TOTP, enrolled beforehand as in production)."""
    authenticator = totp_device_for(user) if second_factor_required(user) else None
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if authenticator is not None:
        page.get_by_label("Code from your authenticator").fill(totp_code_now(authenticator))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()


def signed_in_page(browser, live_server, user, *, timeout: float = 20_000, **context):
    """A page of a new browser context (`context`: Playwright's options, e.g. viewport), signed
    in through the login page."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(timeout)
    sign_in_through_the_form(page, live_server, user)
    return page


def page_with_session(browser, live_server, user, *, timeout: float = 30_000):
    """A 1366x768 page that already has `user`'s session, as the login page leaves it."""
    client = sign_in(Client(), user)
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies([{
        "name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url,
    }])
    page = context.new_page()
    page.set_default_timeout(timeout)
    return page
