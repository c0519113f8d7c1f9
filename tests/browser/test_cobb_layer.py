"""The Cobb measurement on the radiograph page, in real headless Chromium at 1366x768: the angle
beside the class, and a "Cobb" vector layer of the film viewer, drawn from the landmarks in image
pixels, that stays registered on the film at two zooms and that the clinician toggles."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cases.services import radiograph_upload
from inference.selectors import cobb_layer_shapes
from tests.browser.chromium import requires_chromium
from tests.browser.pages import page_with_session
from tests.browser.test_film_viewer import SCREENSHOTS, _frames, spine_film
from tests.factories import CaseFactory, upload
from tests.inference import support
from tests.review.cobb_support import film_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]

FILM_W, FILM_H = 420, 1100


def _measured_film(clinician):
    case = CaseFactory(owner=clinician, patient_reference="MRN-COBB-1")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(spine_film(FILM_W, FILM_H), "ap.png")])
    support.make_finished_prediction(radiograph, support.make_model_version_row(), label="normal", confidence=0.93)
    measurement = support.make_finished_measurement(radiograph, angle=27.5, overlay=False)
    # A column of 17 tilted boxes down the film's middle, in its pixels.
    landmarks = []
    for v in range(17):
        top, tilt = 80 + 55 * v, (v - 8) * 1.5
        for dy in (0, 40):
            landmarks += [[170, top + dy - tilt], [250, top + dy + tilt]]
    measurement.landmarks = landmarks
    measurement.save(update_fields=["landmarks"])
    return radiograph, measurement


def _expected_box(page, shapes: list[dict]) -> dict:
    """The layer's extent, from its shapes' points, through the film's own image->screen box."""
    points = []
    for shape in shapes:
        points += shape.get("points") or [[shape["x"], shape["y"]]]
    image = page.evaluate("() => document.querySelector('.film-viewer').filmViewer.imageBox()")
    k = image["width"] / FILM_W
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {"x": image["x"] + min(xs) * k, "y": image["y"] + min(ys) * k,
            "width": (max(xs) - min(xs)) * k, "height": (max(ys) - min(ys)) * k}


def _cobb_box(page) -> dict | None:
    return page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerBox('cobb')")


def _assert_registered(page, measurement, where: str, shapes: list[dict] | None = None) -> None:
    """The drawn Cobb layer lies where `shapes` (default: the model's measurement's) put it."""
    box, expected = _cobb_box(page), _expected_box(page, shapes or cobb_layer_shapes(measurement))
    assert box is not None, where
    for key in ("x", "y", "width", "height"):
        assert abs(box[key] - expected[key]) <= 1, (where, key, box, expected)


def test_cobb_layer_is_registered_at_two_zooms_and_toggles(live_server, browser, clinician, media_dir):
    radiograph, measurement = _measured_film(clinician)
    page = page_with_session(browser, live_server, clinician)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('cobb')")
    _frames(page)

    answer = page.locator("#cobb-answer")
    assert "27.5°" in answer.inner_text() and "T6" in answer.inner_text() and "apex T9" in answer.inner_text()
    assert "brace" in answer.inner_text().lower()
    assert answer.bounding_box()["y"] + answer.bounding_box()["height"] <= 768  # first viewport
    assert "measured Cobb angle is 10° or more" in page.locator("#prediction-panel").inner_text()
    _assert_registered(page, measurement, "fit")

    page.locator(".fv-canvas").focus()
    for _ in range(3):
        page.keyboard.press("+")
    page.keyboard.press("ArrowDown")
    _frames(page)
    _assert_registered(page, measurement, "zoomed and panned")

    toggle = page.locator('.fv-layers [data-layer="cobb"] input[type="checkbox"]')
    toggle.uncheck()
    _frames(page)
    assert _cobb_box(page) is None
    toggle.check()
    _frames(page)
    _assert_registered(page, measurement, "toggled back on")


def test_not_measured_film_says_why_and_has_no_cobb_layer(live_server, browser, clinician, media_dir):
    case = CaseFactory(owner=clinician, patient_reference="MRN-COBB-2")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(spine_film(FILM_W, FILM_H), "lat.png")])
    support.make_finished_prediction(radiograph, support.make_model_version_row(), label="spondylolisthesis")
    support.make_finished_measurement(radiograph, not_measured="lateral view")
    page = page_with_session(browser, live_server, clinician)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    _frames(page)

    assert "not measured: lateral view" in page.locator("#cobb-answer").inner_text()
    assert "cobb" not in page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerNames()")


def test_polling_panel_adds_the_cobb_layer_when_the_measurement_arrives(live_server, browser, clinician, media_dir):
    from inference.models import Measurement

    radiograph, measurement = _measured_film(clinician)
    measured = {f: getattr(measurement, f) for f in ("status", "largest_angle", "landmarks")}
    Measurement.objects.filter(pk=measurement.pk).update(status="running", largest_angle=None, landmarks=None)
    page = page_with_session(browser, live_server, clinician)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    assert "Measuring the spine" in page.locator("#cobb-answer").inner_text()
    assert "cobb" not in page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerNames()")

    Measurement.objects.filter(pk=measurement.pk).update(**measured)  # the worker's write

    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('cobb')")
    _frames(page)
    assert "27.5°" in page.locator("#cobb-answer").inner_text()
    _assert_registered(page, measurement, "after the poll")


def test_clinicians_cobb_layer_draws_the_reviewers_saved_correction(
    live_server, browser, clinician, reviewer, media_dir  # noqa: F811
):
    from inference.selectors import cobb_layer_shapes_corrected, measurement_correction_for_user
    from reviews.services import measurement_correction_submit, review_submit

    radiograph, measurement = _measured_film(clinician)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="scoliosis")  # the blind read first
    # The reviewer moves the whole column 40 px right and takes T3 and L2 as the end vertebrae.
    moved = [[x + 40, y] for x, y in measurement.landmarks]
    correction = measurement_correction_submit(radiograph=radiograph, reviewer=reviewer, landmarks=moved,
                                               upper_end="T3", lower_end="L2")
    page = page_with_session(browser, live_server, clinician)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('cobb')")
    _frames(page)

    assert page.get_by_label("Show Cobb (corrected)").is_checked()
    captions = page.evaluate("() => document.querySelector('.film-viewer').filmViewer._layer('cobb').shapes"
                             ".filter(s => s.type === 'text').map(s => s.text)")
    assert captions == ["T3", "L2", f"Cobb {correction.largest_angle:.1f}\u00b0 (corrected)"]
    corrected = cobb_layer_shapes_corrected(measurement_correction_for_user(radiograph=radiograph, user=clinician))
    _assert_registered(page, measurement, "the correction, fit", shapes=corrected)
    # Not the model's: its column lies 40 image pixels further left.
    assert _cobb_box(page)["x"] - _expected_box(page, cobb_layer_shapes(measurement))["x"] > 10
    assert "Cobb (corrected)" in page.locator("#cobb-answer").inner_text()
    assert f"{correction.largest_angle:.1f}°" in page.locator('[data-field="corrected-angle"]').inner_text()

    page.locator(".fv-canvas").focus()
    for _ in range(2):
        page.keyboard.press("+")
    _frames(page)
    _assert_registered(page, measurement, "the correction, zoomed", shapes=corrected)


def _drawn_spine() -> tuple[bytes, np.ndarray]:
    """A synthetic AP film whose vertebrae are drawn exactly at known landmarks (a curved column
    of tilted boxes), so the Cobb layer can be seen lying on them."""
    from tests.engine.test_cobb_geometry import synthetic_landmarks

    tilts = np.interp(range(17), [0, 5, 11, 16], [2, -12, 14, 1])
    lateral = 28 * np.sin(np.pi * np.arange(17) / 16)
    pts = synthetic_landmarks(tilts, lateral, width=92, height=40, gap=15, top=90, x0=FILM_W / 2)
    return film_png(pts, width=FILM_W, height=FILM_H, seed=3, fill=200), pts


def test_cobb_layer_lies_on_the_drawn_vertebrae_with_the_measured_angle(live_server, browser, clinician, media_dir):
    from inference.engine import cobb_angles
    from inference.models import Measurement

    data, pts = _drawn_spine()
    m = cobb_angles(pts, image_height=FILM_H)
    case = CaseFactory(owner=clinician, patient_reference="MRN-COBB-3")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data, "ap.png")])
    support.make_finished_prediction(radiograph, support.make_model_version_row(), label="scoliosis", confidence=0.9)
    measurement = support.make_finished_measurement(radiograph, overlay=False)
    Measurement.objects.filter(pk=measurement.pk).update(
        cobb_pt=m.pt, cobb_mt=m.mt, cobb_tl=m.tl, largest_angle=m.largest.angle, largest_upper=m.largest.upper,
        largest_lower=m.largest.lower, largest_apex=m.largest.apex, curve_type=m.curve_type, severity=m.severity,
        landmarks=pts.round(1).tolist(),
    )
    measurement.refresh_from_db()
    page = page_with_session(browser, live_server, clinician)
    page.goto(f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('cobb')")
    _frames(page)

    text = page.locator("#cobb-answer").inner_text()
    assert f"{m.largest.angle:.1f}°" in text and f"from {m.largest.upper} to {m.largest.lower}" in text
    _assert_registered(page, measurement, "fit")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "radiograph-cobb.png"))
