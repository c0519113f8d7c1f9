"""The film viewer and the answer-first pages, in real headless Chromium at 1366x768.

- the heat-map layer stays on the film (its box equals the image's box, within 1 px, and its
  pixels start and stop at the film's edges) at three zoom levels and after a pan;
- the answer (model's label, outlier state, model version) is inside the first viewport;
- window/level works on the stored 16-bit values (two values 100 apart out of 65535, which an
  8-bit decoding would render the same, come out black and white, and the window changes them);
- on the reading page the save button is inside the first viewport, beside the film.

With UPDATE_SCREENSHOTS=1 the tests also write the README's screenshots to docs/screenshots/.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from cases.services import radiograph_upload
from tests.browser.chromium import requires_chromium
from tests.browser.pages import VIEWPORT, page_with_session
from tests.factories import CaseFactory, png_bytes, upload
from tests.inference import support

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HEATMAP_RGB = (255, 0, 0)


# --- synthetic films ----------------------------------------------------------------------------


def spine_film(width: int = 420, height: int = 1100) -> bytes:
    """A synthetic AP spine film (dark soft tissue, a curved column of bright vertebrae):
    plausible in a screenshot, and no patient's image."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    body = np.exp(-(((x - width / 2) / (width * 0.38)) ** 2)) * 70
    film = 20 + body + np.random.default_rng(4).normal(0, 4, (height, width))
    centre = width / 2 + 0.09 * width * np.sin(y / height * 2 * np.pi)
    for top in np.arange(0.06 * height, 0.95 * height, height / 19):
        block = (np.abs(x - centre) < width * 0.09) & (y > top) & (y < top + height / 19 * 0.72)
        film[block] += 120 + 30 * np.cos((x[block] - centre[block]) / (width * 0.09) * np.pi / 2)
    return png_bytes(pixels=np.clip(film, 0, 255).astype(np.uint8))


def heatmap_png(width: int, height: int) -> bytes:
    """A heat-map at another size than the film, as the engine's are: the viewer must stretch
    it onto the film's extent. One solid colour, so its edges can be found in the pixels."""
    return png_bytes(pixels=np.tile(np.array(HEATMAP_RGB, dtype=np.uint8), (height, width, 1)))


def gradcam_like(width: int, height: int) -> bytes:
    """For the screenshots: a warm blob over the curve, coloured like the engine's Grad-CAM."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    heat = np.exp(-(((x - width * 0.55) / (width * 0.18)) ** 2 + ((y - height * 0.45) / (height * 0.2)) ** 2))
    r = np.clip(1.5 - np.abs(4 * heat - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * heat - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * heat - 1), 0, 1)
    return png_bytes(pixels=(np.stack([r, g, b], axis=-1) * 255).astype(np.uint8))


# --- helpers ------------------------------------------------------------------------------------


def _film_with_answer(clinician, film: bytes, heatmap: bytes, *, name="ap.png", ood=False):
    case = CaseFactory(owner=clinician, patient_reference="MRN-VIEW-1")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(film, name)])
    version = support.make_model_version_row(name="lite0-2026-11-30")
    prediction = support.make_finished_prediction(radiograph, version, label="scoliosis", confidence=0.94, ood=ood)
    prediction.gradcam.save("gradcam.png", ContentFile(heatmap), save=True)
    return radiograph


def _open_viewer(page, url: str, *, heatmap: bool = True) -> None:
    page.goto(url)
    page.wait_for_function("() => document.querySelector('.film-viewer')?.dataset.state === 'ready'")
    if heatmap:
        page.wait_for_function("() => document.querySelector('.film-viewer').filmViewer.layerReady('heatmap')")
    _frames(page)


def _frames(page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _boxes(page) -> tuple[dict, dict]:
    return page.evaluate(
        "() => { const v = document.querySelector('.film-viewer').filmViewer;"
        " return [v.imageBox(), v.layerBox('heatmap')]; }"
    )


def _rgb_at(page, x: float, y: float) -> list[int] | None:
    """The rendered pixel of the viewer's canvas at viewport CSS coordinates (None off-canvas)."""
    return page.evaluate(
        """([x, y]) => {
            const c = document.querySelector('.film-viewer').filmViewer.canvas;
            const r = c.getBoundingClientRect(), k = c.width / r.width;
            if (x < r.left || y < r.top || x >= r.right || y >= r.bottom) return null;
            const d = c.getContext('2d').getImageData(Math.floor((x - r.left) * k), Math.floor((y - r.top) * k), 1, 1).data;
            return [d[0], d[1], d[2]];
        }""",
        [x, y],
    )


def _assert_same_box(page, where: str) -> None:
    image, layer = _boxes(page)
    assert layer is not None, where
    for key in ("x", "y", "width", "height"):
        assert abs(image[key] - layer[key]) <= 1, (where, image, layer)


def _assert_heatmap_on_film(page, where: str) -> None:
    _assert_same_box(page, where)
    image, _ = _boxes(page)
    # The pixels agree: heat-map colour just inside each visible edge of the film, black (the
    # stage, the film windowed to black) just outside it.
    canvas = page.locator(".fv-canvas").bounding_box()
    left, top = image["x"], image["y"]
    right, bottom = left + image["width"], top + image["height"]
    mid_x = (max(left, canvas["x"]) + min(right, canvas["x"] + canvas["width"])) / 2
    mid_y = (max(top, canvas["y"]) + min(bottom, canvas["y"] + canvas["height"])) / 2
    checked = 0
    for inside, outside in (
        ((left + 2, mid_y), (left - 2, mid_y)), ((right - 2, mid_y), (right + 2, mid_y)),
        ((mid_x, top + 2), (mid_x, top - 2)), ((mid_x, bottom - 2), (mid_x, bottom + 2)),
    ):
        colour_in, colour_out = _rgb_at(page, *inside), _rgb_at(page, *outside)
        if colour_in is None or colour_out is None:
            continue  # that edge is off the canvas at this zoom
        assert colour_in[0] > 200 and colour_in[1] < 60, (where, inside, colour_in)
        assert colour_out[0] < 60, (where, outside, colour_out)
        checked += 1
    assert checked, f"{where}: no edge of the film is on the canvas"


# --- tests --------------------------------------------------------------------------------------


def test_heatmap_layer_stays_on_the_film_at_three_zooms_and_after_a_pan(live_server, browser, clinician, media_dir):
    # A film narrower than its frame: the case where the old overlay stretched to the frame.
    radiograph = _film_with_answer(clinician, spine_film(300, 1000), heatmap_png(75, 250))
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    # Film windowed to black and heat-map fully opaque, so the heat-map's own pixels show its extent.
    page.evaluate("() => { const v = document.querySelector('.film-viewer').filmViewer;"
                  " v.setWindow(255, 1); v.setLayerOpacity('heatmap', 1); }")
    _frames(page)
    image, _ = _boxes(page)
    assert image["height"] > 500  # fitted to the stage, not a thumbnail
    _assert_heatmap_on_film(page, "fit")

    stage = page.locator(".fv-canvas").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] * 0.4, stage["y"] + stage["height"] * 0.3)
    page.mouse.wheel(0, -300)  # zoom in around the pointer
    _frames(page)
    zoomed, _ = _boxes(page)
    assert zoomed["width"] > image["width"] * 1.3
    _assert_heatmap_on_film(page, "wheel zoom")

    page.locator(".fv-canvas").focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    _frames(page)
    closer, _ = _boxes(page)
    assert closer["width"] > zoomed["width"] * 1.4
    _assert_heatmap_on_film(page, "keyboard zoom")

    page.mouse.move(stage["x"] + 300, stage["y"] + 300)
    page.mouse.down()
    page.mouse.move(stage["x"] + 180, stage["y"] + 220, steps=5)
    page.mouse.up()
    page.keyboard.press("ArrowDown")
    _frames(page)
    panned, _ = _boxes(page)
    assert abs(panned["x"] - closer["x"]) > 50 and abs(panned["y"] - closer["y"]) > 50
    _assert_heatmap_on_film(page, "after pan")

    page.keyboard.press("0")
    _frames(page)
    reset, _ = _boxes(page)
    assert abs(reset["height"] - image["height"]) <= 1


def test_answer_is_inside_the_first_viewport(live_server, browser, clinician, reviewer, media_dir):
    film = spine_film(420, 1100)
    radiograph = _film_with_answer(clinician, film, gradcam_like(210, 550))
    radiograph.reviews.create(reviewer=reviewer, label="scoliosis")
    radiograph.confirmed_label = "scoliosis"
    radiograph.confirmed_at = timezone.now()
    radiograph.save(update_fields=["confirmed_label", "confirmed_at"])
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    for selector in (".confirmed-read", ".model-answer", ".ood-state", ".model-version"):
        box = page.locator(f"#prediction-panel {selector}").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], selector
    assert "scoliosis" in page.locator(".model-answer").inner_text()
    assert "Not an outlier" in page.locator(".ood-state").inner_text()
    assert "lite0-2026-11-30" in page.locator(".model-version").inner_text()
    assert page.locator("text=Decision aid, not a diagnosis").count() == 1
    viewer = page.locator(".film-viewer").bounding_box()
    assert viewer["y"] + viewer["height"] <= VIEWPORT["height"]  # the whole film frame is on screen
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "radiograph-page.png"))


def test_outlier_answer_is_inside_the_first_viewport_with_probabilities_folded(live_server, browser, clinician, media_dir):
    radiograph = _film_with_answer(clinician, spine_film(420, 1100), gradcam_like(210, 550), ood=True)
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    outlier = page.locator("#prediction-panel .ood-outlier")
    assert "does not look like the radiographs" in outlier.inner_text()
    assert "No class is given" in page.locator(".model-answer").inner_text()
    box = page.locator("#prediction-panel .model-version").bounding_box()
    assert box["y"] + box["height"] <= VIEWPORT["height"]
    assert not page.locator(".probabilities").is_visible()  # under a collapsed "details"


def test_window_level_works_on_the_stored_sixteen_bit_values(live_server, browser, clinician, media_dir):
    pixels = np.full((400, 200), 30000, dtype=np.uint16)
    pixels[:, 100:] = 30100  # the same grey once decoded to 8 bits (both 117)
    radiograph = _film_with_answer(clinician, png_bytes(pixels=pixels), heatmap_png(50, 100), name="film16.png")
    assert radiograph.bit_depth == 16
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.evaluate("() => document.querySelector('.film-viewer').filmViewer.setLayerVisible('heatmap', false)")
    _frames(page)
    image, _ = _boxes(page)
    left = (image["x"] + image["width"] * 0.25, image["y"] + image["height"] / 2)
    right = (image["x"] + image["width"] * 0.75, image["y"] + image["height"] / 2)
    # Default window: the film's own value range, so 30000 is black and 30100 white.
    assert _rgb_at(page, *left)[0] < 10 and _rgb_at(page, *right)[0] > 245

    # The reader narrows the window around the darker value with the slider.
    page.get_by_label("Window level (centre)").fill("30000")
    page.get_by_label("Window width").fill("50")
    _frames(page)
    assert page.evaluate("() => document.querySelector('.film-viewer').filmViewer.windowLevel()") == {
        "center": 30000, "width": 50}
    assert 110 < _rgb_at(page, *left)[0] < 145  # mid-grey now
    assert _rgb_at(page, *right)[0] > 245
    page.locator(".fv-canvas").focus()
    page.keyboard.press("0")  # reset restores the default window
    _frames(page)
    assert _rgb_at(page, *left)[0] < 10


def test_reading_page_fits_the_film_and_the_save_button_on_screen(live_server, browser, clinician, reviewer, media_dir):
    radiograph = _film_with_answer(clinician, spine_film(420, 1100), gradcam_like(210, 550))
    page = page_with_session(browser, live_server, reviewer)
    # Blind reading (the default): the film, the form, and no answer yet.
    _open_viewer(page, f"{live_server.url}/inference/review/radiographs/{radiograph.pk}/", heatmap=False)
    save = page.get_by_role("button", name="Save read")
    box = save.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]
    viewer = page.locator(".film-viewer").bounding_box()
    form = page.locator("#review-form").bounding_box()
    assert viewer["x"] + viewer["width"] <= form["x"]  # film left, form right
    assert viewer["y"] + viewer["height"] <= VIEWPORT["height"]
    assert page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerNames()") == []
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "reading-page.png"))


def test_a_vector_layer_in_image_pixels_stays_on_the_film_and_can_be_hidden(live_server, browser, clinician, media_dir):
    """The generic layer API the Cobb measurement will use: polylines, points and text in image
    pixel coordinates, drawn through the same transform as the film."""
    radiograph = _film_with_answer(clinician, spine_film(300, 1000), heatmap_png(75, 250))
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.evaluate("""() => document.querySelector('.film-viewer').filmViewer.addLayer('cobb', {
        label: 'Cobb angle', shapes: [
            {type: 'polyline', points: [[0, 0], [150, 400], [300, 1000]]},
            {type: 'point', x: 150, y: 400}, {type: 'text', x: 160, y: 400, text: '23°'}]})""")
    assert page.get_by_label("Show Cobb angle").is_checked()
    for zoom in ("1", "2.5", "1.6"):
        page.evaluate(f"() => document.querySelector('.film-viewer').filmViewer.zoomBy({zoom}, 500, 300)")
        _frames(page)
        image, _ = _boxes(page)
        cobb = page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerBox('cobb')")
        for key in ("x", "y", "width", "height"):
            assert abs(image[key] - cobb[key]) <= 1, (zoom, image, cobb)
    page.get_by_label("Show Cobb angle").uncheck()
    _frames(page)
    assert page.evaluate("() => document.querySelector('.film-viewer').filmViewer.layerBox('cobb')") is None


def test_full_screen_and_fit_to_height_from_the_keyboard(live_server, browser, clinician, media_dir):
    radiograph = _film_with_answer(clinician, spine_film(1400, 500), heatmap_png(140, 50))
    page = page_with_session(browser, live_server, clinician)
    _open_viewer(page, f"{live_server.url}/radiographs/{radiograph.pk}/")
    page.locator(".fv-canvas").focus()
    fitted, _ = _boxes(page)
    page.keyboard.press("h")  # a wide film: fit its height to the stage instead of its width
    _frames(page)
    tall, _ = _boxes(page)
    stage = page.locator(".fv-canvas").bounding_box()
    assert tall["height"] > fitted["height"] + 50
    assert abs(tall["height"] - stage["height"]) <= 1 and abs(tall["y"] - stage["y"]) <= 1
    _assert_same_box(page, "fit height")
    page.get_by_role("button", name="Full screen (f)").click()
    page.wait_for_function("() => document.fullscreenElement === document.querySelector('.film-viewer')")
    page.wait_for_function("() => document.querySelector('.fv-canvas').getBoundingClientRect().height"
                           f" > {stage['height'] + 20}")
    _frames(page)
    _assert_same_box(page, "full screen")
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")
