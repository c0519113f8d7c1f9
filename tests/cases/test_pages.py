"""Server-rendered pages: list, create, edit, detail with upload and thumbnails, radiograph view,
the decision-aid notice and the admin-only audit trail."""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urldefrag

import pytest
from django.urls import reverse

from cases.models import Case, Radiograph
from tests.factories import CaseFactory, RadiographFactory, dicom_bytes, png_bytes, upload


def test_case_list_page_searches_filters_and_paginates(client_as, clinician):
    for n in range(30):
        CaseFactory(owner=clinician, patient_reference=f"MRN-{n:03d}", sex="F" if n % 2 else "M")
    client = client_as(clinician)
    page = client.get(reverse("cases:case_list")).content.decode()
    assert "Page 1 of 2" in page and "MRN-029" in page and "MRN-000" not in page
    second = client.get(reverse("cases:case_list"), {"page": 2}).content.decode()
    assert "MRN-000" in second
    found = client.get(reverse("cases:case_list"), {"q": "MRN-007"}).content.decode()
    assert "MRN-007" in found and "MRN-008" not in found
    women = client.get(reverse("cases:case_list"), {"sex": "F", "q": "MRN-00"}).content.decode()
    assert "MRN-001" in women and "MRN-002" not in women


def test_clinician_creates_a_case_from_the_form(client_as, clinician):
    response = client_as(clinician).post(
        reverse("cases:case_create"),
        {"patient_reference": "MRN-NEW", "sex": "F", "birth_year": "2010", "notes": ""},
    )
    case = Case.objects.get(patient_reference="MRN-NEW")
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_detail", args=[case.pk])
    assert case.owner == clinician


def test_case_form_shows_errors(client_as, clinician):
    response = client_as(clinician).post(
        reverse("cases:case_create"), {"patient_reference": "", "sex": "F", "birth_year": "3000"}
    )
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert b"between 1900 and this year" in response.content
    assert not Case.objects.exists()


def test_owner_edits_a_case(client_as, clinician, case):
    response = client_as(clinician).post(
        reverse("cases:case_edit", args=[case.pk]),
        {"patient_reference": case.patient_reference, "sex": "M", "birth_year": "2007", "notes": "AP view"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.sex, case.birth_year, case.notes) == ("M", 2007, "AP view")


def test_upload_from_the_page_shows_thumbnails(client_as, clinician, case):
    client = client_as(clinician)
    files = [upload(png_bytes(seed=1), "one.png"), upload(dicom_bytes(), "two.dcm")]
    response = client.post(reverse("cases:radiograph_upload", args=[case.pk]), {"file": files}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 radiographs uploaded." in page
    for radiograph in Radiograph.objects.filter(case=case):
        assert reverse("cases_api:radiograph_thumbnail", args=[radiograph.pk]) in page
    assert "Decision aid, not a diagnosis" in page


def test_rejected_upload_on_the_page_lists_each_file(client_as, clinician, case):
    files = [upload(b"", "blank.jpg"), upload(b"hello", "notes.jpg"), upload(png_bytes(), "ok.png")]
    response = client_as(clinician).post(reverse("cases:radiograph_upload", args=[case.pk]), {"file": files})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was uploaded" in page
    assert "blank.jpg" in page and "notes.jpg" in page and "ok.png" not in page
    assert not Radiograph.objects.exists()


def test_radiograph_page_shows_the_image_and_the_decision_aid_notice(client_as, clinician, radiograph):
    response = client_as(clinician).get(reverse("cases:radiograph_detail", args=[radiograph.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert reverse("cases_api:radiograph_image", args=[radiograph.pk]) in page
    assert "Decision aid, not a diagnosis" in page
    assert "/media" not in page


def test_audit_trail_records_who_changed_what(client_as, admin_user, clinician):
    from cases.services import case_create, case_update, radiograph_upload

    case = case_create(user=clinician, patient_reference="MRN-AUD")
    case_update(user=clinician, case=case, data={"notes": "changed"})
    radiograph_upload(user=clinician, case=case, files=[upload(png_bytes())])
    history = list(case.history.order_by("history_date"))
    assert [(h.history_type, h.history_user) for h in history] == [("+", clinician), ("~", clinician)]
    assert Radiograph.history.get().history_user == clinician
    client = client_as(admin_user)
    page = client.get(reverse("cases:audit_log")).content.decode()
    assert "MRN-AUD" in page and clinician.username in page and "Changed" in page
    assert "Created" in client.get(reverse("cases:audit_log"), {"kind": "radiograph"}).content.decode()


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_audit_trail_is_for_admins_only(request, client_as, persona):
    user = request.getfixturevalue(persona)
    assert client_as(user).get(reverse("cases:audit_log")).status_code == 403


def test_admin_site_lists_cases_with_history(client_as, admin_user, case):
    client = client_as(admin_user)
    assert client.get(reverse("admin:cases_case_changelist")).status_code == 200
    assert client.get(reverse("admin:cases_case_history", args=[case.pk])).status_code == 200
    RadiographFactory(case=case)
    assert client.get(reverse("admin:cases_radiograph_changelist")).status_code == 200


def test_pages_have_a_main_landmark_and_labelled_upload_field(client_as, clinician, case):
    page = client_as(clinician).get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert '<main id="main"' in page and 'lang="en"' in page
    assert '<label for="id_file">' in page and "multiple" in page


def test_new_case_page_says_only_the_reference_is_needed(client_as, clinician):
    page = client_as(clinician).get(reverse("cases:case_create")).content.decode()
    assert "Only the patient's reference" in page and "sex and year of birth are optional" in page
    assert "are needed" not in page


def test_case_page_shows_the_decision_aid_notice_once(client_as, clinician, radiograph):
    page = client_as(clinician).get(reverse("cases:case_detail", args=[radiograph.case.pk])).content.decode()
    assert page.count("decision aid, not a diagnosis") + page.count("Decision aid, not a diagnosis") == 1


class _AriaReferences(HTMLParser):
    """Collects every id, every id an aria-describedby/-labelledby points to, and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.references: list[tuple[str, str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        for name in ("aria-describedby", "aria-labelledby"):
            for ref in (attributes.get(name) or "").split():
                self.references.append((tag, name, ref))
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _dangling_references(html: str) -> tuple[list, list[str]]:
    parser = _AriaReferences()
    parser.feed(html)
    return [r for r in parser.references if r[2] not in parser.ids], parser.links


def _crawl(client, start: list[str], limit: int = 80) -> dict[str, list]:
    """GET every same-site page reachable from `start` (HTML answers only), up to `limit`."""
    seen: set[str] = set()
    queue, problems = list(start), {}
    while queue and len(seen) < limit:
        url = urldefrag(queue.pop(0))[0]
        if url in seen or not url.startswith("/") or url.startswith(("/admin/", "/api/", "/logout")):
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        dangling, links = _dangling_references(response.content.decode())
        if dangling:
            problems[url] = dangling
        queue.extend(link for link in links if link not in seen)
    assert len(seen) > 3, seen
    return problems


def test_no_page_has_an_aria_reference_to_a_missing_id(client_as, clinician, admin_user, radiograph):
    from tests.inference import support as inference_support

    inference_support.make_model_version_row(name="v-active", active=True)
    clinician_client = client_as(clinician)
    problems = _crawl(clinician_client, ["/", reverse("cases:case_create"),
                                         reverse("cases:case_detail", args=[radiograph.case.pk])])
    # A form shown with its errors (help texts and error messages are what describedby points at).
    invalid = clinician_client.post(reverse("cases:case_create"), {"patient_reference": " ", "birth_year": "1800"})
    dangling, _ = _dangling_references(invalid.content.decode())
    if dangling:
        problems["POST /cases/new/"] = dangling
    clinician_client.logout()
    problems.update(_crawl(client_as(admin_user), ["/", reverse("training:models")]))
    assert problems == {}
