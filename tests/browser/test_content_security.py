"""In real Chromium: no page breaks the Content-Security-Policy (the browser reports every refused
script or style in the console), and the API docs (Swagger UI from drf-spectacular-sidecar)
render under it."""
from __future__ import annotations

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from tests.factories import PASSWORD, CaseFactory, UserFactory

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture
def live_clinician(transactional_db):
    user = UserFactory(username="clinician-csp", role="clinician")
    CaseFactory(owner=user)
    return user


@pytest.fixture
def browser_page(monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_pages_and_api_docs_run_without_a_policy_violation(live_server, live_clinician, browser_page):
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(live_clinician.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Cases").first.wait_for()
    case_link = page.locator("a[href^='/cases/']").first
    case_link.click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/v1/docs/")
    # Swagger UI renders the schema's title only if its scripts ran and could fetch the schema.
    page.get_by_text("Spine X-ray screening API").first.wait_for()
    assert violations == []
