"""Every read visible to the clinician, in real headless Chromium (Debian's package) at 1366×768:
a reviewer's correction appears on the clinician's open case page without a reload; an admin
settles a dispute through the adjudication page; the case report downloads as a PDF that names
the film's answer."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from reviews.services import review_submit
from tests.browser.chromium import requires_chromium
from tests.browser.pages import VIEWPORT, signed_in_page
from tests.inference import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]

@pytest.fixture
def people(clinician, reviewer, second_reviewer, admin_user):
    return {"clinician": clinician, "reviewer": reviewer, "second": second_reviewer, "admin": admin_user}


def _sign_in(browser, live_server, user, **context):
    return signed_in_page(browser, live_server, user, viewport=VIEWPORT, **context)


def _enforce_script_src_self(page) -> None:
    """Serve every page under `script-src 'self'` (the site's coming CSP) and record what the
    browser refuses, so the live badges are proven to need no inline script."""
    page.csp_violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_violations.append(m.text))

    def with_csp(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": "script-src 'self'"}
        route.fulfill(response=response, headers=headers)

    page.route("**/*", with_csp)


def _read_film(case, settings, *, label="scoliosis", confidence=0.87):
    settings.REVIEW_AGREEMENT_REQUIRED = 1
    version = support.make_model_version_row(name="cls-live")
    radiograph = support.make_radiograph(case, seed=51)
    support.make_finished_prediction(radiograph, version, label=label, confidence=confidence)
    return radiograph


def test_reviewers_correction_appears_on_the_clinicians_open_case_page(
    live_server, people, browser, settings, media_dir
):
    case = support.make_case(people["clinician"], patient_reference="MRN-READS-1")
    radiograph = _read_film(case, settings)

    clinician = _sign_in(browser, live_server, people["clinician"])
    _enforce_script_src_self(clinician)
    clinician.goto(f"{live_server.url}/cases/{case.pk}/")
    film = clinician.locator(f'[data-film="{radiograph.pk}"]')
    assert film.locator('[data-role="badge"]').inner_text() == "Model answer: scoliosis"
    clinician.evaluate("window.__loadedOnce = true")  # gone if the page reloads

    # The reviewer reads the film in their own session and corrects the model.
    reviewer = _sign_in(browser, live_server, people["reviewer"])
    reviewer.goto(f"{live_server.url}/inference/review/radiographs/{radiograph.pk}/")
    reviewer.locator('input[name="label"][value="normal"]').check()
    reviewer.keyboard.press("Enter")
    reviewer.wait_for_load_state()

    badge = film.locator('[data-role="badge"]')
    clinician.wait_for_function(
        "el => el.textContent === 'Corrected: normal'", arg=badge.element_handle(), timeout=30_000
    )
    assert "film-corrected" in badge.get_attribute("class")
    assert film.locator('[data-role="detail"]').inner_text() == "reader: normal · model: scoliosis (87.0 %)"
    assert clinician.locator("#case-status").inner_text() == "Reviewed"
    assert clinician.evaluate("window.__loadedOnce") is True
    assert clinician.csp_violations == []


def test_admin_settles_a_dispute_through_the_adjudication_page(live_server, people, browser, settings):
    case = support.make_case(people["clinician"], patient_reference="MRN-READS-2")
    radiograph = _read_film(case, settings)
    settings.REVIEW_AGREEMENT_REQUIRED = 2
    review_submit(radiograph=radiograph, reviewer=people["reviewer"], label="normal")
    review_submit(radiograph=radiograph, reviewer=people["second"], label="scoliosis")

    admin = _sign_in(browser, live_server, people["admin"])
    admin.get_by_role("link", name="Adjudication").click()
    dispute = admin.locator(f'[data-dispute="{radiograph.pk}"]')
    assert people["reviewer"].username in dispute.inner_text() and people["second"].username in dispute.inner_text()
    assert "MRN-READS-2" not in admin.content()
    dispute.get_by_label("scoliosis", exact=True).check()
    dispute.get_by_label("Reason").fill("Curve visible on the full film")
    dispute.get_by_role("button", name=f"Settle film #{radiograph.pk}").click()
    admin.get_by_text(f"Film #{radiograph.pk} settled as scoliosis.").wait_for()
    assert admin.locator(f'[data-dispute="{radiograph.pk}"]').count() == 0

    radiograph.refresh_from_db()
    assert radiograph.confirmed_label == "scoliosis"
    assert radiograph.adjudicated_by == people["admin"]
    assert radiograph.history.latest().history_change_reason == "adjudicated: Curve visible on the full film"


def test_clinician_downloads_the_case_report_pdf_naming_the_answer(
    live_server, people, browser, settings, media_dir
):
    case = support.make_case(people["clinician"], patient_reference="MRN-READS-3")
    _read_film(case, settings, label="spondylolisthesis", confidence=0.93)

    clinician = _sign_in(browser, live_server, people["clinician"], accept_downloads=True)
    clinician.goto(f"{live_server.url}/cases/{case.pk}/")
    with clinician.expect_download() as download_info:
        clinician.get_by_role("link", name="Export PDF report").click()
    download = download_info.value
    assert download.suggested_filename == f"case-{case.pk}-report.pdf"
    with open(download.path(), "rb") as handle:
        data = handle.read()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())
    assert "spondylolisthesis (93.0 %)" in text
    assert "MRN-READS-3" in text
    assert "Decision aid, not a diagnosis" in text
