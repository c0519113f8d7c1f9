"""Scoliosis evidence from the Cobb angle: where the class and the measured angle disagree, the
film goes to the top of the review queue with the reason."""
from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.inference import support
from tests.signin import sign_in

pytestmark = pytest.mark.django_db


def _queue(user) -> list[dict]:
    client = APIClient()
    client.force_authenticate(user=user)
    return client.get("/api/v1/review-queue/").json()["results"]


@pytest.fixture
def films(case, media_dir):
    """An out-of-distribution film (top of the queue without Cobb), an unsure one, and two
    whose class and angle disagree, plus one where they agree."""
    version = support.make_model_version_row()

    def film(seed, label, confidence, angle=None, ood=False, not_measured=""):
        radiograph = support.make_radiograph(case, seed=seed)
        support.make_finished_prediction(radiograph, version, label=label, confidence=confidence, ood=ood)
        if angle is not None or not_measured:
            support.make_finished_measurement(radiograph, angle=angle, not_measured=not_measured, overlay=False)
        return radiograph

    return {
        "odd": film(1, "normal", 0.99, ood=True, not_measured="out of distribution"),
        "unsure": film(2, "scoliosis", 0.41, angle=31.0),
        "normal_with_curve": film(3, "normal", 0.97, angle=18.2),
        "scoliosis_without_curve": film(4, "scoliosis", 0.95, angle=6.5),
        "agreeing": film(5, "normal", 0.96, angle=4.0),
    }


def test_class_and_angle_disagreement_comes_first_with_the_reason(reviewer, films, settings):
    settings.REVIEW_BLIND_READING = False

    items = _queue(reviewer)

    ids = [i["id"] for i in items]
    first_two = {films["normal_with_curve"].pk, films["scoliosis_without_curve"].pk}
    assert set(ids[:2]) == first_two
    # Then the queue's own order: out of distribution, low confidence, the rest.
    assert ids[2:] == [films["odd"].pk, films["unsure"].pk, films["agreeing"].pk]
    reasons = {i["id"]: i["cobb_disagreement"] for i in items}
    assert "class normal" in reasons[films["normal_with_curve"].pk] and "18.2" in reasons[films["normal_with_curve"].pk]
    assert "class scoliosis" in reasons[films["scoliosis_without_curve"].pk] and "6.5" in reasons[films["scoliosis_without_curve"].pk]
    assert reasons[films["agreeing"].pk] is None and reasons[films["unsure"].pk] is None


def test_blind_reviewer_sees_the_conflict_without_the_models_class_or_angle(reviewer, films):
    items = _queue(reviewer)

    top = items[0]
    assert top["id"] in {films["normal_with_curve"].pk, films["scoliosis_without_curve"].pk}
    assert top["cobb_disagreement"] == "the model's class and its measured Cobb angle disagree"
    assert top["predicted_label"] is None


def test_queue_page_shows_the_reason(reviewer, films, settings):
    settings.REVIEW_BLIND_READING = False
    client = Client()
    sign_in(client, reviewer)

    page = client.get("/inference/review/").content.decode()

    assert "class normal but Cobb angle 18.2" in page
    assert page.index(f"#{films['normal_with_curve'].pk}<") < page.index(f"#{films['odd'].pk}<")


def test_a_not_measured_film_is_no_scoliosis_evidence(reviewer, case, media_dir, settings):
    settings.REVIEW_BLIND_READING = False
    version = support.make_model_version_row()
    radiograph = support.make_radiograph(case, seed=7)
    support.make_finished_prediction(radiograph, version, label="scoliosis", confidence=0.95)
    support.make_finished_measurement(radiograph, not_measured="lateral view")

    [item] = _queue(reviewer)

    assert item["cobb_disagreement"] is None
