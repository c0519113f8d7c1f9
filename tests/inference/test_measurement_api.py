"""The Cobb measurement through the API: its shape, who may see it, blind reading, the access log."""
from __future__ import annotations

import pytest

from cases.models import AccessLogEntry
from tests.inference import support
from tests.signin import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def film(case, media_dir):
    radiograph = support.make_radiograph(case, seed=5)
    support.make_finished_prediction(radiograph, support.make_model_version_row(), label="normal")
    return radiograph, support.make_finished_measurement(radiograph, angle=23.4)


def test_radiograph_api_returns_the_measurement_with_landmarks_and_overlay(clinician, film):
    radiograph, measurement = film
    body = api_client_for(clinician).get(f"/api/v1/radiographs/{radiograph.pk}/").json()["measurement"]

    assert body["status"] == "succeeded" and body["not_measured"] is None
    assert body["cobb"] == {"pt": 23.4, "mt": 5.0, "tl": 3.0}
    assert body["largest"] == {"angle": 23.4, "upper": "T6", "lower": "T11", "apex": "T9"}
    assert body["curve_type"] == "C" and body["severity"] == "watch"
    assert "watch" in body["severity_words"].lower() and body["scoliosis_evidence"] is True
    assert len(body["landmarks"]) == 68 and body["landmarks"][0] == [60, 10]
    assert body["overlay_url"].endswith(f"/api/v1/measurements/{measurement.pk}/overlay/")


def test_not_measured_film_has_the_reason_and_no_angle(clinician, case, media_dir):
    radiograph = support.make_radiograph(case, seed=6)
    support.make_finished_measurement(radiograph, not_measured="lateral view")

    body = api_client_for(clinician).get(f"/api/v1/radiographs/{radiograph.pk}/").json()["measurement"]

    assert body["not_measured"] == "lateral view"
    assert body["cobb"] == {"pt": None, "mt": None, "tl": None}
    assert body["largest"] is None and body["landmarks"] is None and body["overlay_url"] is None
    assert body["scoliosis_evidence"] is None


def test_owner_reads_the_measurement_and_its_overlay_and_both_are_access_logged(clinician, film):
    radiograph, measurement = film
    api = api_client_for(clinician)

    detail = api.get(f"/api/v1/measurements/{measurement.pk}/")
    overlay = api.get(f"/api/v1/measurements/{measurement.pk}/overlay/")

    assert detail.status_code == 200 and detail.json()["id"] == measurement.pk
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
    assert overlay["Cache-Control"] == "private, no-store"
    assert b"".join(overlay.streaming_content).startswith(b"\x89PNG")
    logged = AccessLogEntry.objects.filter(user=clinician, radiograph_id=radiograph.pk)
    assert set(logged.values_list("resource", flat=True)) >= {"measurement", "measurement_overlay"}
    assert logged.get(resource="measurement_overlay").object_id == measurement.pk


@pytest.mark.parametrize("persona", ["other_clinician", "outsider"])
def test_others_get_neither_the_measurement_nor_its_overlay(request, persona, film):
    radiograph, measurement = film
    api = api_client_for(request.getfixturevalue(persona))

    assert api.get(f"/api/v1/measurements/{measurement.pk}/").status_code == 404
    assert api.get(f"/api/v1/measurements/{measurement.pk}/overlay/").status_code == 404
    assert not AccessLogEntry.objects.filter(resource__startswith="measurement").exists()


def test_blind_reviewer_gets_the_measurement_only_after_their_read(reviewer, film):
    radiograph, measurement = film
    api = api_client_for(reviewer)
    assert api.get(f"/api/v1/radiographs/{radiograph.pk}/").json()["measurement"] is None
    assert api.get(f"/api/v1/measurements/{measurement.pk}/").status_code == 404
    assert api.get(f"/api/v1/measurements/{measurement.pk}/overlay/?blind=0").status_code == 404

    saved = api.post(f"/api/v1/radiographs/{radiograph.pk}/reviews/", {"label": "normal"}, format="json")

    assert saved.status_code == 201
    assert api.get(f"/api/v1/radiographs/{radiograph.pk}/").json()["measurement"]["largest"]["angle"] == 23.4
    assert api.get(f"/api/v1/measurements/{measurement.pk}/overlay/").status_code == 200


def test_one_reviewers_read_does_not_unlock_the_measurement_for_another(reviewer, second_reviewer, film):
    radiograph, measurement = film
    api_client_for(reviewer).post(f"/api/v1/radiographs/{radiograph.pk}/reviews/", {"label": "normal"}, format="json")

    assert api_client_for(second_reviewer).get(f"/api/v1/measurements/{measurement.pk}/").status_code == 404
