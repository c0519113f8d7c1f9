"""Every access rule, with every outsider persona, on every case, radiograph and file URL.

Owner (clinician) and admin read and change; a reviewer reaches films (radiograph, image,
thumbnail) but no case: for them a case does not exist (404), like for another clinician or a
user with no role; no login gets 401 from the API and a redirect to the login page from pages.
"""
from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import RadiographFactory, UserFactory, png_bytes, upload

READ_API = [
    ("cases_api:case_detail", "case"),
    ("cases_api:radiograph_detail", "radiograph"),
    ("cases_api:radiograph_image", "radiograph"),
    ("cases_api:radiograph_thumbnail", "radiograph"),
    ("cases_api:radiograph_pixels", "radiograph"),
]
READ_PAGES = [
    ("cases:case_detail", "case"),
    ("cases:radiograph_detail", "radiograph"),
    ("cases:case_edit", "case"),
]


@pytest.fixture
def objects(case, radiograph):
    return {"case": case.pk, "radiograph": radiograph.pk}


def url_for(name: str, kind: str, objects: dict) -> str:
    return reverse(name, args=[objects[kind]])


@pytest.mark.parametrize("name,kind", READ_API)
@pytest.mark.parametrize("user", ["clinician", "admin_user"], indirect=True)
def test_owner_and_admin_can_read_through_the_api(api_as, objects, user, name, kind):
    assert api_as(user).get(url_for(name, kind, objects)).status_code == 200


@pytest.mark.parametrize("name,kind", [r for r in READ_API if r[1] == "radiograph"])
def test_reviewer_reads_films_through_the_api(api_as, reviewer, objects, name, kind):
    assert api_as(reviewer).get(url_for(name, kind, objects)).status_code == 200


def test_reviewer_has_no_case_through_the_api(api_as, reviewer, objects):
    response = api_as(reviewer).get(url_for("cases_api:case_detail", "case", objects))
    assert response.status_code == 404


@pytest.mark.parametrize("name,kind", READ_API)
@pytest.mark.parametrize("user", ["other_clinician", "outsider"], indirect=True)
def test_outsider_gets_404_from_every_api_url(api_as, objects, user, name, kind):
    response = api_as(user).get(url_for(name, kind, objects))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name,kind", READ_API)
def test_anonymous_gets_401_from_every_api_url(api_as, objects, name, kind):
    response = api_as(None).get(url_for(name, kind, objects))
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_anonymous_gets_401_from_case_list_and_upload(api_as, case):
    client = api_as(None)
    assert client.get(reverse("cases_api:case_list")).status_code == 401
    assert client.post(reverse("cases_api:case_list"), {"patient_reference": "X"}).status_code == 401
    url = reverse("cases_api:radiograph_upload", args=[case.pk])
    assert client.post(url, {"file": upload(png_bytes())}, format="multipart").status_code == 401


@pytest.mark.parametrize("name,kind", READ_PAGES)
@pytest.mark.parametrize("persona", ["other_clinician", "outsider"])
def test_outsider_gets_404_from_every_page(request, client_as, objects, persona, name, kind):
    user = request.getfixturevalue(persona)
    assert client_as(user).get(url_for(name, kind, objects)).status_code == 404


@pytest.mark.parametrize("name,kind", [*READ_PAGES, ("cases:case_list", None)])
def test_anonymous_is_sent_to_login_from_every_page(client, objects, name, kind):
    url = reverse(name) if kind is None else url_for(name, kind, objects)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_reviewer_has_no_case_page_no_edit_and_no_radiograph_page(client_as, reviewer, case, radiograph):
    client = client_as(reviewer)
    assert client.get(reverse("cases:case_detail", args=[case.pk])).status_code == 404
    assert client.get(reverse("cases:case_edit", args=[case.pk])).status_code == 404
    assert client.get(reverse("cases:radiograph_detail", args=[radiograph.pk])).status_code == 404


def test_reviewer_landing_on_the_case_list_goes_to_the_review_queue(client_as, reviewer, case):
    response = client_as(reviewer).get(reverse("cases:case_list"))
    assert response.status_code == 302
    assert response["Location"] == reverse("reviews:review_queue")


@pytest.mark.parametrize("persona,status", [("reviewer", 404), ("other_clinician", 404), ("outsider", 404)])
def test_only_owner_or_admin_may_patch_a_case(request, api_as, case, persona, status):
    user = request.getfixturevalue(persona)
    response = api_as(user).patch(
        reverse("cases_api:case_detail", args=[case.pk]), {"notes": "changed"}, format="json"
    )
    assert response.status_code == status
    case.refresh_from_db()
    assert case.notes == ""


@pytest.mark.parametrize("persona", ["clinician", "admin_user"])
def test_owner_and_admin_may_patch_a_case(request, api_as, case, persona):
    user = request.getfixturevalue(persona)
    response = api_as(user).patch(
        reverse("cases_api:case_detail", args=[case.pk]), {"notes": "scoliosis follow-up"}, format="json"
    )
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.notes == "scoliosis follow-up"


@pytest.mark.parametrize("persona,status", [("reviewer", 404), ("other_clinician", 404), ("outsider", 404)])
def test_only_owner_or_admin_may_upload_through_the_api(request, api_as, case, persona, status):
    user = request.getfixturevalue(persona)
    url = reverse("cases_api:radiograph_upload", args=[case.pk])
    response = api_as(user).post(url, {"file": upload(png_bytes())}, format="multipart")
    assert response.status_code == status
    assert not case.radiographs.exists()


@pytest.mark.parametrize("persona,status", [("reviewer", 404), ("other_clinician", 404), ("outsider", 404)])
def test_only_owner_or_admin_may_upload_through_the_page(request, client_as, case, persona, status):
    user = request.getfixturevalue(persona)
    url = reverse("cases:radiograph_upload", args=[case.pk])
    response = client_as(user).post(url, {"file": upload(png_bytes())})
    assert response.status_code == status
    assert not case.radiographs.exists()


@pytest.mark.parametrize("persona,status", [("reviewer", 403), ("outsider", 403)])
def test_only_clinicians_and_admins_create_cases(request, api_as, client_as, persona, status):
    user = request.getfixturevalue(persona)
    api = api_as(user).post(reverse("cases_api:case_list"), {"patient_reference": "MRN-9"}, format="json")
    assert api.status_code == status
    page = client_as(user).post(reverse("cases:case_create"), {"patient_reference": "MRN-9", "sex": "F"})
    assert page.status_code == status


def test_case_list_shows_a_clinician_only_their_own_cases(api_as, client_as, clinician, other_clinician, case):
    from tests.factories import CaseFactory

    CaseFactory(owner=other_clinician, patient_reference="MRN-BOB-1")
    body = api_as(clinician).get(reverse("cases_api:case_list")).json()
    assert [c["patient_reference"] for c in body["results"]] == [case.patient_reference]
    page = client_as(clinician).get(reverse("cases:case_list"))
    assert b"MRN-BOB-1" not in page.content


@pytest.mark.parametrize("persona,count", [("clinician", 1), ("admin_user", 2)])
def test_case_list_scope_per_role(request, api_as, case, other_clinician, persona, count):
    from tests.factories import CaseFactory

    CaseFactory(owner=other_clinician)
    user = request.getfixturevalue(persona)
    assert api_as(user).get(reverse("cases_api:case_list")).json()["count"] == count


@pytest.mark.parametrize("persona", ["reviewer", "outsider"])
def test_reviewer_and_outsider_have_no_case_list_api(request, api_as, case, persona):
    user = request.getfixturevalue(persona)
    response = api_as(user).get(reverse("cases_api:case_list"), {"search": case.patient_reference})
    assert response.status_code == 403
    assert case.patient_reference not in response.content.decode()


def test_files_are_never_cached_publicly(api_as, clinician, radiograph):
    for name in ("cases_api:radiograph_image", "cases_api:radiograph_thumbnail"):
        response = api_as(clinician).get(reverse(name, args=[radiograph.pk]))
        assert response["Cache-Control"] == "private, no-store"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_dicom_copy_follows_the_same_rule(api_as, clinician, other_clinician, case):
    from cases.services import radiograph_upload
    from tests.factories import dicom_bytes

    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(dicom_bytes())])
    url = reverse("cases_api:radiograph_dicom", args=[radiograph.pk])
    assert api_as(clinician).get(url).status_code == 200
    assert api_as(other_clinician).get(url).status_code == 404
    # The DICOM copy goes with the case (study attributes), so a reviewer does not fetch it.
    assert api_as(UserFactory(role="reviewer")).get(url).status_code == 404
    assert api_as(None).get(url).status_code == 401


def test_dicom_url_of_a_non_dicom_radiograph_is_404(api_as, clinician, radiograph):
    assert api_as(clinician).get(reverse("cases_api:radiograph_dicom", args=[radiograph.pk])).status_code == 404


def test_media_files_have_no_public_url(client, radiograph):
    from django.conf import settings

    assert client.get(f"/{settings.MEDIA_URL.strip('/')}/{radiograph.image.name}").status_code == 404
    assert client.get(f"/media/{radiograph.image.name}").status_code == 404


def test_thumbnail_is_rendered_for_rows_made_without_one(api_as, clinician, case):
    radiograph = RadiographFactory(case=case)
    response = api_as(clinician).get(reverse("cases_api:radiograph_thumbnail", args=[radiograph.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
