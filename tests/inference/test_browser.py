"""The main loop in real headless Chromium (Debian's package) with a real Celery worker:
a clinician uploads and watches the prediction and heat-map appear without reloading; a
reviewer works the queue in blind mode from the keyboard and confirms a label."""
from __future__ import annotations

import pytest

from cases.models import Radiograph
from tests.browser.chromium import requires_chromium
from tests.browser.pages import signed_in_page
from tests.inference import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]


def test_clinician_sees_prediction_appear_and_reviewer_confirms_blind(
    live_server, worker, clinician, reviewer, model_version, browser, tmp_path
):
    case = support.make_case(clinician, patient_reference="MRN-LIVE-1")
    image = tmp_path / "spine.png"
    image.write_bytes(support.png_bytes(width=200, height=320, seed=11))

    # Clinician: upload, open the radiograph, watch the answer arrive.
    page = signed_in_page(browser, live_server, clinician, timeout=60_000)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.locator('input[type="file"]').set_input_files([image])
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("1 radiograph").first.wait_for()
    radiograph = Radiograph.objects.get(case=case)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.locator("#prediction-panel").wait_for()
    page.get_by_text("Model's answer:").wait_for(timeout=90_000)
    # The polled panel hands its heat-map to the film viewer, which draws it as a layer.
    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('heatmap')")
    page.get_by_label("Heat-map (Grad-CAM) opacity").fill("30")
    opacity = "document.querySelector('.film-viewer').filmViewer.layers[0].opacity"
    assert page.evaluate(opacity) == 0.3
    assert page.locator("text=Decision aid, not a diagnosis").count() == 1

    # Reviewer: queue in blind mode, read from the keyboard, then see the model's answer.
    page = signed_in_page(browser, live_server, reviewer, timeout=60_000)
    page.goto(f"{live_server.url}/inference/review/")
    assert "MRN-LIVE-1" not in page.content()
    page.get_by_role("link", name="Start reading (n)").click()
    page.wait_for_load_state("load")  # review.js (deferred) listens for the keys from here on
    assert page.locator("#prediction-panel").count() == 0  # blind: hidden before the read
    page.keyboard.press("2")
    page.wait_for_selector('input[name="label"][value="scoliosis"]:checked', timeout=5000)
    page.keyboard.press("Enter")
    page.locator("#prediction-panel").wait_for()
    radiograph.refresh_from_db()
    assert radiograph.confirmed_label == "scoliosis"
    assert radiograph.reviews.get().blind is True
