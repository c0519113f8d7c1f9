"""The answer on the radiograph page, in reading order: the confirmed read and who confirmed it,
the model's label with its confidence in words, the outlier state, the model version; the film
once (in the viewer) and the decision-aid notice once."""
from __future__ import annotations

import pytest
from django.utils import timezone

from tests.inference import support
from tests.signin import page_client_for

pytestmark = pytest.mark.django_db


def _page(user, radiograph) -> str:
    response = page_client_for(user).get(f"/radiographs/{radiograph.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _confirm_by_read(radiograph, reviewer, label: str) -> None:
    radiograph.reviews.create(reviewer=reviewer, label=label)
    radiograph.confirmed_label = label
    radiograph.confirmed_at = timezone.now()
    radiograph.save(update_fields=["confirmed_label", "confirmed_at"])


@pytest.fixture
def version():
    return support.make_model_version_row(name="panel-order-v3")


def test_answer_comes_in_reading_order_with_the_film_once(clinician, reviewer, case, version):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version, label="scoliosis", confidence=0.93)
    _confirm_by_read(radiograph, reviewer, "spondylolisthesis")
    html = _page(clinician, radiograph)
    positions = [
        html.index("Confirmed read"),
        html.index("spondylolisthesis"),
        html.index("Model's answer: <strong class=\"label\">scoliosis"),
        html.index("High confidence"),
        html.index("Not an outlier"),
        html.index("Model version: <strong>panel-order-v3"),
    ]
    assert positions == sorted(positions)
    assert html.count("data-film-viewer") == 1
    assert f"/api/v1/radiographs/{radiograph.pk}/image/\" alt" in html  # only the no-JS fallback
    assert "<figcaption>Original" not in html and "img class=\"overlay\"" not in html
    assert html.count("Decision aid, not a diagnosis") == 1


def test_clinician_learns_how_a_read_was_confirmed_and_admin_learns_by_whom(
    clinician, reviewer, admin_user, case, version
):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version)
    _confirm_by_read(radiograph, reviewer, "scoliosis")
    assert "1 agreeing radiologist read" in _page(clinician, radiograph)
    assert reviewer.get_username() not in _page(clinician, radiograph)
    assert f"read by {reviewer.get_username()}" in _page(admin_user, radiograph)


def test_adjudicated_read_names_the_adjudication(clinician, admin_user, case, version):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version)
    radiograph.confirmed_label = "normal"
    radiograph.confirmed_at = timezone.now()
    radiograph.adjudicated_by = admin_user
    radiograph.save()
    assert "adjudicated by an admin" in _page(clinician, radiograph)
    assert f"adjudicated by {admin_user.get_username()}" in _page(admin_user, radiograph)


def test_outlier_says_no_class_is_given_and_folds_its_probabilities_away(clinician, case, version):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version, label="scoliosis", ood=True)
    html = _page(clinician, radiograph)
    assert "No class is given" in html and "Outlier:" in html
    assert "Model's answer:" not in html and "Not an outlier" not in html
    details = html[html.index('<details class="probabilities-details"'):]
    assert details.startswith('<details class="probabilities-details">')  # collapsed, not `open`
    assert html.index("Outlier:") < html.index("Model version") < html.index("probabilities-details")


def test_unconfirmed_film_shows_no_confirmed_read(clinician, case, version):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version)
    assert "Confirmed read" not in _page(clinician, radiograph)
