"""In real Chromium: no page breaks the Content-Security-Policy (the browser reports every refused
script or style in the console), and the API docs (Swagger UI from drf-spectacular-sidecar)
render under it."""
from __future__ import annotations

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.pages import sign_in_through_the_form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]


def test_pages_and_api_docs_run_without_a_policy_violation(live_server, clinician, case, browser_page):
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in_through_the_form(page, live_server, clinician)
    page.get_by_role("link", name="Cases").first.wait_for()
    case_link = page.locator("a[href^='/cases/']").first
    case_link.click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/v1/docs/")
    # Swagger UI renders the schema's title only if its scripts ran and could fetch the schema.
    page.get_by_text("Spine X-ray screening API").first.wait_for()
    assert violations == []
