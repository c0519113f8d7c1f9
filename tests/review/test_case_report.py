"""The printable case report: a real PDF (WeasyPrint) that names each film's answer, carries the
patient identity only for the owner and admins, and leaves an export record."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from cases.models import CaseReportExport
from reviews.film_states import film_states_for_case
from reviews.report import (
    ReportMeasurement,
    _measurement_providers,
    case_report_html,
    report_measurement_provider_register,
)
from reviews.services import review_submit
from tests.inference import support
from tests.signin import page_client_for

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def reported(case, reviewer, settings):
    settings.REVIEW_AGREEMENT_REQUIRED = 1
    version = support.make_model_version_row(name="cls-v9")
    first = support.make_radiograph(case, seed=41)
    support.make_finished_prediction(first, version, label="spondylolisthesis", confidence=0.91)
    second = support.make_radiograph(case, seed=42)
    support.make_finished_prediction(second, version, label="scoliosis", confidence=0.84)
    review_submit(radiograph=second, reviewer=reviewer, label="normal")
    third = support.make_radiograph(case, seed=43)
    support.make_finished_prediction(third, version, label="normal", confidence=0.99, ood=True)
    return case


def test_owner_downloads_a_pdf_that_names_each_films_answer_and_the_patient(clinician, reported):
    response = page_client_for(clinician).get(f"/cases/{reported.pk}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="case-{reported.pk}-report.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    text = " ".join(_text(response.content).split())
    for words in (
        "spondylolisthesis (91.0 %)",          # film 1: the model's answer
        "Corrected: normal", "scoliosis (84.0 %)",  # film 2: reader's label beside the model's
        "Outlier: no class given",            # film 3: an outlier gives no class
        "cls-v9",                             # the model version
        "Decision aid, not a diagnosis",
        reported.patient_reference,
    ):
        assert words in text
    assert reported.patient_reference not in response["Content-Disposition"]
    thumbnails = sum(len(page.images) for page in PdfReader(io.BytesIO(response.content)).pages)
    assert thumbnails == 3  # each film is shown, embedded (the fetcher fetches nothing else)


def test_export_is_recorded_with_who_and_the_pdfs_digest(clinician, reported):
    import hashlib

    pdf = page_client_for(clinician).get(f"/cases/{reported.pk}/report.pdf").content
    record = CaseReportExport.objects.get(case=reported)
    assert record.exported_by == clinician
    assert record.film_count == 3 and record.identity_included is True
    assert record.sha256 == hashlib.sha256(pdf).hexdigest()


def test_admin_report_includes_identity(admin_user, reported):
    pdf = page_client_for(admin_user).get(f"/cases/{reported.pk}/report.pdf").content
    assert reported.patient_reference in _text(pdf)


def test_report_for_anyone_but_owner_and_admin_leaves_identity_out(reviewer, reported):
    films = film_states_for_case(user=reviewer, case=reported)
    html = case_report_html(user=reviewer, case=reported, films=films)
    assert reported.patient_reference not in html
    assert "Patient identity is not printed for your role" in html
    assert "spondylolisthesis (91.0 %)" in html


@pytest.mark.parametrize("persona", ["other_clinician", "outsider"])
def test_report_of_a_case_you_may_not_see_does_not_exist(persona, request, reported):
    response = page_client_for(request.getfixturevalue(persona)).get(f"/cases/{reported.pk}/report.pdf")
    assert response.status_code == 404
    assert not CaseReportExport.objects.exists()


def test_registered_measurements_are_printed(clinician, reported):
    def cobb(radiograph):
        return [ReportMeasurement(name="Cobb angle, main thoracic", value=23.44, unit="°", source="lm-1")]

    report_measurement_provider_register(cobb)
    try:
        films = film_states_for_case(user=clinician, case=reported)
        html = case_report_html(user=clinician, case=reported, films=films)
    finally:
        _measurement_providers.remove(cobb)
    assert "Cobb angle, main thoracic: 23.4°" in html


def test_a_film_whose_file_is_gone_is_printed_as_unavailable(clinician, reported):
    from django.core.files.storage import default_storage

    from cases.services import thumbnail_name_for

    lost = reported.radiographs.first()
    for name in (lost.image.name, thumbnail_name_for(lost.image.name)):
        if default_storage.exists(name):
            default_storage.delete(name)
    response = page_client_for(clinician).get(f"/cases/{reported.pk}/report.pdf")
    assert response.status_code == 200
    text = _text(response.content)
    assert "image unavailable" in text and "spondylolisthesis" in text
    assert sum(len(page.images) for page in PdfReader(io.BytesIO(response.content)).pages) == 2


def test_admin_reads_the_export_trail_but_cannot_edit_it(admin_user, clinician, reported):
    page_client_for(clinician).get(f"/cases/{reported.pk}/report.pdf")
    record = CaseReportExport.objects.get()
    admin = page_client_for(admin_user)
    assert clinician.username in admin.get("/admin/cases/casereportexport/").content.decode()
    assert admin.post(f"/admin/cases/casereportexport/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CaseReportExport.objects.filter(pk=record.pk).exists()


def test_the_cobb_measurement_is_printed_in_the_pdf(clinician, reported):
    first, second, third = reported.radiographs.order_by("id")
    support.make_finished_measurement(first, angle=31.26, overlay=False)
    support.make_finished_measurement(third, not_measured="out of distribution")

    response = page_client_for(clinician).get(f"/cases/{reported.pk}/report.pdf")

    text = " ".join(_text(response.content).split())
    # (The PDF may break a line at the hyphen of "C-shaped".)
    assert "Cobb angle, largest curve (T6–T11, apex T9, C-" in text
    assert "Moderate: brace (25–40°)): 31.3°" in text
    assert "Cobb angle, second curve: 5.0°" in text
    assert "Cobb angle: not measured (out of distribution)" in text


def test_a_blind_reviewer_gets_no_cobb_measurement_in_the_report(reviewer, reported):
    first = reported.radiographs.order_by("id").first()
    support.make_finished_measurement(first, angle=31.26, overlay=False)

    html = case_report_html(user=reviewer, case=reported, films=film_states_for_case(user=reviewer, case=reported))

    assert "31.3" not in html and "Cobb angle" not in html
