"""REST API behaviour: tokens, cases, uploads, radiographs, one error format, OpenAPI."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.selectors import second_factor_required
from cases.models import Radiograph
from tests.factories import (
    PASSWORD,
    CaseFactory,
    RadiographFactory,
    dicom_bytes,
    jpeg_bytes,
    png_bytes,
    upload,
)
from tests.signin import totp_code_now, totp_device_for


def token_for(username: str, password: str = PASSWORD) -> APIClient:
    """A client with a token asked for as a real client does (admins also send their one-time code)."""
    client = APIClient()
    data = {"username": username, "password": password}
    user = get_user_model().objects.get(username=username)
    if second_factor_required(user):
        data["otp_token"] = totp_code_now(totp_device_for(user))
    response = client.post(reverse("accounts_api:token"), data, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def test_token_from_username_and_password_authenticates_requests(clinician, case):
    client = token_for(clinician.username)
    response = client.get(reverse("cases_api:case_list"))
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_token_request_with_wrong_password_is_refused_in_the_error_format(clinician):
    response = APIClient().post(
        reverse("accounts_api:token"), {"username": clinician.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "credentials" in error["message"]


def test_token_requests_are_throttled_after_repeated_failures(settings, clinician):
    settings.AXES_FAILURE_LIMIT = 3
    client = APIClient()
    url = reverse("accounts_api:token")
    for _ in range(3):
        client.post(url, {"username": clinician.username, "password": "wrong"}, format="json")
    response = client.post(url, {"username": clinician.username, "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert "token" not in response.content.decode()


def test_bad_token_is_401(db, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api_client.get(reverse("cases_api:case_list")).status_code == 401


def test_create_case_returns_it_with_its_empty_radiograph_list(api_as, clinician):
    response = api_as(clinician).post(
        reverse("cases_api:case_list"),
        {"patient_reference": "  MRN-777 ", "sex": "F", "birth_year": 2009, "notes": "back pain"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["patient_reference"] == "MRN-777"
    assert body["owner"] == clinician.username
    assert body["radiographs"] == [] and body["status"] == "open"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"sex": "F"}, "patient_reference"),
        ({"patient_reference": "   "}, "patient_reference"),
        ({"patient_reference": "A", "sex": "X"}, "sex"),
        ({"patient_reference": "A", "birth_year": 2999}, "birth_year"),
        ({"patient_reference": "A", "birth_year": 1200}, "birth_year"),
    ],
)
def test_invalid_case_gets_field_errors_in_the_error_format(api_as, clinician, payload, field):
    response = api_as(clinician).post(reverse("cases_api:case_list"), payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["code"] == "invalid"
    assert field in error["fields"]


def test_put_is_not_offered(api_as, clinician, case):
    response = api_as(clinician).put(
        reverse("cases_api:case_detail", args=[case.pk]), {"patient_reference": "x"}, format="json"
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_case_detail_shows_its_radiographs(api_as, clinician, case):
    first, second = RadiographFactory(case=case), RadiographFactory(case=case)
    body = api_as(clinician).get(reverse("cases_api:case_detail", args=[case.pk])).json()
    assert [r["id"] for r in body["radiographs"]] == [first.pk, second.pk]
    assert body["radiograph_count"] == 2


def test_case_list_search_filter_and_pagination(api_as, clinician):
    for n in range(30):
        CaseFactory(owner=clinician, patient_reference=f"MRN-{n:03d}", sex="F" if n % 2 else "M")
    CaseFactory(owner=clinician, patient_reference="HOSP-ZZ-1", sex="M", notes="lumbar")
    client = api_as(clinician)
    url = reverse("cases_api:case_list")
    page = client.get(url).json()
    assert page["count"] == 31 and len(page["results"]) == 25 and page["next"]
    assert len(client.get(url, {"page": 2}).json()["results"]) == 6
    assert client.get(url, {"page_size": 5}).json()["results"][0]["patient_reference"] == "HOSP-ZZ-1"
    assert [c["patient_reference"] for c in client.get(url, {"search": "zz"}).json()["results"]] == ["HOSP-ZZ-1"]
    assert client.get(url, {"search": "lumbar"}).json()["count"] == 1
    assert client.get(url, {"sex": "F"}).json()["count"] == 15
    assert client.get(url, {"sex": "M", "search": "MRN"}).json()["count"] == 15
    bad = client.get(url, {"sex": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


def test_upload_several_files_returns_201_with_the_radiographs(api_as, clinician, case):
    url = reverse("cases_api:radiograph_upload", args=[case.pk])
    files = [upload(png_bytes(seed=1), "a.png"), upload(jpeg_bytes(seed=2), "b.jpg"), upload(dicom_bytes(), "c.dcm")]
    response = api_as(clinician).post(url, {"file": files}, format="multipart")
    assert response.status_code == 201, response.content
    created = response.json()["radiographs"]
    assert [r["source_format"] for r in created] == ["png", "jpeg", "dicom"]
    assert all(r["case"] == case.pk and r["prediction"] is None for r in created)
    assert created[2]["dicom_url"].endswith(f"/api/v1/radiographs/{created[2]['id']}/dicom/")


def test_upload_tells_the_registered_receivers_after_commit_and_survives_a_failing_one(
    api_as, clinician, case, django_capture_on_commit_callbacks
):
    from cases import hooks

    told: list[list[int]] = []

    def listening(sender, radiograph_ids, **kwargs):
        told.append(radiograph_ids)

    def broken(sender, radiograph_ids, **kwargs):
        raise RuntimeError("an app above is broken")

    hooks.radiographs_uploaded.connect(broken, dispatch_uid="test-broken")
    hooks.radiographs_uploaded.connect(listening, dispatch_uid="test-listening")
    try:
        url = reverse("cases_api:radiograph_upload", args=[case.pk])
        with django_capture_on_commit_callbacks(execute=True):
            response = api_as(clinician).post(url, {"file": [upload(png_bytes(seed=5), "a.png")]}, format="multipart")
    finally:
        hooks.radiographs_uploaded.disconnect(dispatch_uid="test-broken")
        hooks.radiographs_uploaded.disconnect(dispatch_uid="test-listening")

    assert response.status_code == 201, response.content
    assert told == [[response.json()["radiographs"][0]["id"]]]
    assert Radiograph.objects.filter(case=case).count() == 1


def test_upload_with_a_bad_file_is_400_with_an_error_per_file_and_stores_nothing(
    api_as, clinician, case, media_dir
):
    url = reverse("cases_api:radiograph_upload", args=[case.pk])
    files = [
        upload(png_bytes(seed=1), "good.png"),
        upload(b"", "empty.jpg"),
        upload(png_bytes(width=20, height=20), "tiny.png"),
    ]
    response = api_as(clinician).post(url, {"file": files}, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "upload_rejected"
    assert [(f["name"], f["code"]) for f in error["files"]] == [("empty.jpg", "empty"), ("tiny.png", "too_small")]
    assert all(f["message"] for f in error["files"])
    assert not Radiograph.objects.exists()
    assert [p for p in media_dir.rglob("*") if p.is_file()] == []


def test_upload_with_no_file_is_400(api_as, clinician, case):
    response = api_as(clinician).post(
        reverse("cases_api:radiograph_upload", args=[case.pk]), {}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["files"][0]["code"] == "no_file"


def test_radiograph_detail_has_the_documented_fields(api_as, clinician, radiograph):
    body = api_as(clinician).get(reverse("cases_api:radiograph_detail", args=[radiograph.pk])).json()
    for field in ("id", "case", "image_url", "width", "height", "content_type", "uploaded_at", "prediction"):
        assert field in body
    assert body["prediction"] is None
    assert body["image_url"] == f"http://testserver/api/v1/radiographs/{radiograph.pk}/image/"


def test_image_url_downloads_the_stored_bytes_with_a_token(clinician, case):
    data = png_bytes(seed=3)
    from cases.services import radiograph_upload

    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data)])
    client = token_for(clinician.username)
    image_url = client.get(reverse("cases_api:radiograph_detail", args=[radiograph.pk])).json()["image_url"]
    response = client.get(image_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"


def test_prediction_field_comes_from_the_registered_hook(api_as, clinician, radiograph, monkeypatch):
    from cases import hooks

    monkeypatch.setattr(
        hooks.radiograph_prediction_payload, "provider", lambda *, radiograph, request: {"label": "normal"}
    )
    body = api_as(clinician).get(reverse("cases_api:radiograph_detail", args=[radiograph.pk])).json()
    assert body["prediction"] == {"label": "normal"}


def test_openapi_schema_and_docs_are_served(api_as, clinician):
    schema = api_as(clinician).get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/auth/token/", "/api/v1/cases/", "/api/v1/cases/{case_id}/",
                 "/api/v1/cases/{case_id}/radiographs/", "/api/v1/radiographs/{radiograph_id}/"):
        assert path in paths
    assert api_as(clinician).get("/api/v1/docs/").status_code == 200


def _list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["clinician", "admin_user"])
def test_case_list_query_count_does_not_grow_with_rows(request, client_as, persona):
    user = request.getfixturevalue(persona)
    owner = user if persona == "clinician" else request.getfixturevalue("clinician")
    # Real authentication per request (token, session), as in production: nothing cached.
    api, pages = token_for(user.username), client_as(user)
    api_url, page_url = reverse("cases_api:case_list"), reverse("cases:case_list")

    CaseFactory(owner=owner)
    few_api, few_page = _list_queries(api, api_url), _list_queries(pages, page_url)
    for case in CaseFactory.create_batch(30, owner=owner):
        RadiographFactory.create_batch(2, case=case)
    assert _list_queries(api, api_url) == few_api
    assert _list_queries(pages, page_url) == few_page
    # An admin's session also loads the second-factor device it was verified with (django-otp);
    # one query is the access log entry every read of patient data appends (cases.audit).
    # One more is the film states (reviews, one query for every film of the page).
    assert few_api <= 5 and few_page <= (12 if persona == "admin_user" else 11)


def test_browsable_api_renders_for_a_signed_in_clinician(client_as, clinician, case):
    response = client_as(clinician).get(reverse("cases_api:case_list"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert case.patient_reference in response.content.decode()


def test_openapi_schema_is_valid(db, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--file", str(out))
    assert "/api/v1/cases/{case_id}/radiographs/" in out.read_text()
