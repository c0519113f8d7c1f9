"""Blind reading is enforced by the server: a reviewer trying every way round it gets nothing of
the model's answer (label, probabilities, confidence, heat-map) for a film until their own read
of it is saved. No request parameter turns it off; only the site setting does."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from reviews.models import Review
from tests.inference import support
from tests.signin import api_client_for, page_client_for

pytestmark = pytest.mark.django_db

# A confidence no page shows except as the model's answer ("87.3 %", "0.873").
CONFIDENCE = 0.873


@pytest.fixture
def film(case):
    version = support.make_model_version_row()
    radiograph = support.make_radiograph(case, seed=5)
    prediction = support.make_finished_prediction(
        radiograph, version, label="spondylolisthesis", confidence=CONFIDENCE
    )
    prediction.gradcam.save("gradcam.png", ContentFile(support.png_bytes(seed=6)))
    return radiograph, prediction


def _answer_in(text: str) -> bool:
    return "87.3" in text or "0.873" in text or "gradcam" in text or 'id="prediction-panel"' in text


CHEATS = ["", "?blind=0", "?blind=false&reveal=1", "?fragment=1&blind=0"]


@pytest.mark.parametrize("cheat", CHEATS)
def test_reviewer_gets_no_answer_from_any_endpoint_before_their_read(reviewer, film, cheat):
    radiograph, prediction = film
    api = api_client_for(reviewer)
    body = api.get(f"/api/v1/radiographs/{radiograph.pk}/{cheat}").json()
    assert body["prediction"] is None
    assert api.get(f"/api/v1/predictions/{prediction.pk}/{cheat}").status_code == 404
    assert api.get(f"/api/v1/predictions/{prediction.pk}/gradcam/{cheat}").status_code == 404
    page = page_client_for(reviewer)
    assert page.get(f"/inference/radiographs/{radiograph.pk}/prediction/{cheat}").status_code == 403
    reading = page.get(f"/inference/review/radiographs/{radiograph.pk}/{cheat}")
    assert reading.status_code == 200 and not _answer_in(reading.content.decode())
    queue = page.get(f"/inference/review/{cheat}").content.decode()
    assert "Blind reading is <strong>on</strong>" in queue and not _answer_in(queue)


def test_queue_hides_the_answer_and_refuses_the_predicted_label_filter(reviewer, film):
    radiograph, _ = film
    api = api_client_for(reviewer)
    items = api.get("/api/v1/review-queue/?blind=0").json()["results"]
    assert [i["id"] for i in items] == [radiograph.pk]
    assert items[0]["predicted_label"] is None
    assert items[0]["confidence"] is None and items[0]["out_of_distribution"] is None
    refused = api.get("/api/v1/review-queue/?predicted_label=spondylolisthesis")
    assert refused.status_code == 400
    assert "predicted_label" in refused.json()["error"]["fields"]
    # The page ignores the filter instead of answering with the one matching film.
    page = page_client_for(reviewer).get("/inference/review/?predicted_label=normal&blind=0").content.decode()
    assert f"/inference/review/radiographs/{radiograph.pk}/" in page


def test_saved_read_unlocks_the_answer_and_the_server_decides_it_was_blind(reviewer, film):
    radiograph, prediction = film
    api = api_client_for(reviewer)
    saved = api.post(
        f"/api/v1/radiographs/{radiograph.pk}/reviews/", {"label": "normal", "blind": False}, format="json"
    )
    assert saved.status_code == 201 and saved.json()["blind"] is True
    assert Review.objects.get(radiograph=radiograph, reviewer=reviewer).blind is True
    assert api.get(f"/api/v1/radiographs/{radiograph.pk}/").json()["prediction"]["confidence"] == CONFIDENCE
    assert api.get(f"/api/v1/predictions/{prediction.pk}/gradcam/").status_code == 200
    reading = page_client_for(reviewer).get(f"/inference/review/radiographs/{radiograph.pk}/").content.decode()
    assert _answer_in(reading)


def test_one_reviewers_read_does_not_unlock_the_film_for_another(reviewer, second_reviewer, film):
    radiograph, prediction = film
    api_client_for(reviewer).post(f"/api/v1/radiographs/{radiograph.pk}/reviews/", {"label": "normal"}, format="json")
    assert api_client_for(second_reviewer).get(f"/api/v1/predictions/{prediction.pk}/").status_code == 404


def test_owner_and_admin_see_the_answer_and_a_reviewing_owner_sees_it_on_own_case(
    clinician, admin_user, film
):
    radiograph, prediction = film
    for user in (clinician, admin_user):
        assert api_client_for(user).get(f"/api/v1/predictions/{prediction.pk}/").status_code == 200
    clinician.groups.add(Group.objects.get_or_create(name="reviewer")[0])
    clinician._portal_roles = None
    assert api_client_for(clinician).get(f"/api/v1/radiographs/{radiograph.pk}/").json()["prediction"] is not None


def test_site_setting_turns_blind_reading_off(reviewer, film, settings):
    settings.REVIEW_BLIND_READING = False
    radiograph, prediction = film
    api = api_client_for(reviewer)
    assert api.get(f"/api/v1/predictions/{prediction.pk}/").json()["confidence"] == CONFIDENCE
    items = api.get("/api/v1/review-queue/?predicted_label=spondylolisthesis").json()["results"]
    assert [i["predicted_label"] for i in items] == ["spondylolisthesis"]
    saved = api.post(f"/api/v1/radiographs/{radiograph.pk}/reviews/", {"label": "normal"}, format="json")
    assert saved.json()["blind"] is False
