"""A reviewer corrects a Cobb measurement on the reading page, in real headless Chromium at
1366x768: drags an endplate's end on the film's "Cobb (edit)" layer, sees the angle follow,
moves an end vertebra with the keyboard, saves; the server's angle equals the one shown, and
the clinician's radiograph page shows the reviewer's angle.

With UPDATE_SCREENSHOTS=1 it also writes the README's screenshot of the editor."""
from __future__ import annotations

import os

import pytest

from reviews.models import MeasurementCorrection
from reviews.services import review_submit
from tests.browser.chromium import requires_chromium
from tests.browser.pages import page_with_session
from tests.browser.test_film_viewer import SCREENSHOTS
from tests.factories import CaseFactory
from tests.review.cobb_support import (
    landmark_model_version_fixture,  # noqa: F401 - fixture
    measured_radiograph,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]

ANGLE = "() => Number(document.querySelector('[data-field=\"cobb-angle\"]').dataset.value)"
# L1 is the model's lower end vertebra (index 12); its bottom-right corner is landmark 51.
CORNER = "() => { const v = document.querySelector('.film-viewer').filmViewer;" \
         " const p = JSON.parse(document.querySelector('#cobb-form [name=landmarks]').value)[51];" \
         " return v.toClient(p[0], p[1]); }"


def test_reviewer_drags_an_endplate_saves_and_the_clinician_sees_the_new_angle(
    live_server, browser, clinician, reviewer, landmark_model_version, media_dir
):
    case = CaseFactory(owner=clinician)
    film = measured_radiograph(case, landmark_model_version)
    review_submit(radiograph=film, reviewer=reviewer, label="scoliosis")  # blind read saved first
    page = page_with_session(browser, live_server, reviewer)
    page.goto(f"{live_server.url}/inference/review/radiographs/{film.pk}/")
    page.wait_for_function("() => document.querySelector('[data-cobb-editor]')?.cobbEditor")
    assert page.get_by_label("Show Cobb (edit)").is_checked()
    # The model's own Cobb layer, once the panel hands it over, starts hidden under the editor's.
    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerNames().includes('cobb')")
    assert not page.get_by_label("Show Cobb", exact=True).is_checked()
    before = page.evaluate(ANGLE)
    assert before == pytest.approx(30.0, abs=0.05)  # the model's T4-L1 curve
    save = page.get_by_role("button", name="Save measurement")
    box = save.bounding_box()
    assert box["y"] + box["height"] <= 768  # the save button is on the first screen

    x, y = page.evaluate(CORNER)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x, y + 3 * step)  # drag L1's lower endplate end down: its tilt (-18 deg) shrinks
    page.mouse.up()
    dragged = page.evaluate(ANGLE)
    assert dragged < before - 1.0, (before, dragged)
    assert page.locator('[data-field="cobb-angle"]').inner_text() == f"{dragged:.1f}°"

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "cobb-correction.png"))

    page.locator(".fv-canvas").focus()
    page.keyboard.press("[")  # upper end vertebra one up: T3
    assert page.locator('[data-field="cobb-ends"]').inner_text() == "T3\u2013L1"
    shown = page.evaluate(ANGLE)

    save.click()
    page.wait_for_selector("text=Measurement saved")
    correction = MeasurementCorrection.objects.get()
    assert correction.reviewer == reviewer and correction.upper_end == "T3" and correction.lower_end == "L1"
    # The server's angle (the engine's geometry) is the one the reviewer saw, to display rounding.
    assert correction.largest_angle == pytest.approx(shown, abs=0.05)
    assert page.locator('[data-field="cobb-saved"]').inner_text().startswith(
        f"Your saved correction: {correction.largest_angle:.1f}°")

    clinician_page = page_with_session(browser, live_server, clinician)
    clinician_page.goto(f"{live_server.url}/radiographs/{film.pk}/")
    corrected = clinician_page.locator('[data-field="corrected-angle"]')
    assert corrected.inner_text() == f"{correction.largest_angle:.1f}°"
    assert corrected.bounding_box()["y"] < 768  # the reviewer's angle is on the first screen
