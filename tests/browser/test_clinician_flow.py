"""The clinician's first visit, in real headless Chromium (Debian's package) driven by
Playwright: sign in, open a case, upload two radiographs, see their two thumbnails."""
from __future__ import annotations

import pytest

from tests.browser.chromium import requires_chromium
from tests.browser.pages import sign_in_through_the_form
from tests.factories import jpeg_bytes, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]


def test_clinician_signs_in_creates_a_case_uploads_two_radiographs_and_sees_thumbnails(
    live_server, clinician, browser_page, tmp_path, media_dir
):
    first, second = tmp_path / "ap-view.png", tmp_path / "lateral.jpg"
    first.write_bytes(png_bytes(width=200, height=300, seed=1))
    second.write_bytes(jpeg_bytes(width=220, height=320, seed=2))
    page = browser_page

    sign_in_through_the_form(page, live_server, clinician)
    page.get_by_role("heading", name="Cases").wait_for()

    page.get_by_role("link", name="New case").click()
    page.get_by_label("Patient reference").fill("MRN-BROWSER-1")
    page.get_by_label("Sex").select_option("F")
    page.get_by_label("Birth year").fill("2009")
    page.get_by_role("button", name="Create case").click()
    page.get_by_role("heading", name="Case MRN-BROWSER-1").wait_for()

    page.get_by_label("Images (JPEG, PNG or DICOM; several at once)").set_input_files([first, second])
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("2 radiographs uploaded.").wait_for()

    thumbnails = page.locator(".thumbs img")
    assert thumbnails.count() == 2
    for index in range(2):
        thumbnail = thumbnails.nth(index)
        thumbnail.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert "Decision aid, not a diagnosis" in page.locator(".notice").inner_text()
