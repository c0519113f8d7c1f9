"""Every read visible to the clinician: the per-film state (one selector), the case page and
list badges, and the JSON status the case page polls — and who may read that status."""
from __future__ import annotations

import pytest

from reviews.film_states import FilmStateKind, film_states_for_case
from reviews.services import review_submit
from tests.inference import support
from tests.signin import page_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return support.make_model_version_row(name="cls-v7")


@pytest.fixture
def films(case, version, reviewer, second_reviewer, settings):
    """One film in each state, in upload order."""
    settings.REVIEW_AGREEMENT_REQUIRED = 1
    pending = support.make_radiograph(case, seed=1)
    answered = support.make_radiograph(case, seed=2)
    support.make_finished_prediction(answered, version, label="scoliosis", confidence=0.93)
    outlier = support.make_radiograph(case, seed=3)
    support.make_finished_prediction(outlier, version, label="normal", confidence=0.8, ood=True)
    confirmed = support.make_radiograph(case, seed=4)
    support.make_finished_prediction(confirmed, version, label="scoliosis", confidence=0.9)
    review_submit(radiograph=confirmed, reviewer=reviewer, label="scoliosis")
    corrected = support.make_radiograph(case, seed=5)
    support.make_finished_prediction(corrected, version, label="scoliosis", confidence=0.88)
    review_submit(radiograph=corrected, reviewer=reviewer, label="normal")
    failed = support.make_radiograph(case, seed=6)
    support.make_finished_prediction(failed, version, status="failed")
    return {
        "pending": pending, "answered": answered, "outlier": outlier,
        "confirmed": confirmed, "corrected": corrected, "failed": failed,
    }


def _disputed(case, version, reviewer, second_reviewer, settings):
    settings.REVIEW_AGREEMENT_REQUIRED = 2
    radiograph = support.make_radiograph(case, seed=7)
    support.make_finished_prediction(radiograph, version, label="spondylolisthesis", confidence=0.6)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="normal")
    review_submit(radiograph=radiograph, reviewer=second_reviewer, label="spondylolisthesis")
    return radiograph


def test_each_film_gets_its_state_from_predictions_and_reads(clinician, case, films):
    states = {s.radiograph.pk: s for s in film_states_for_case(user=clinician, case=case)}
    kinds = {name: states[r.pk].kind for name, r in films.items()}
    assert kinds == {
        "pending": FilmStateKind.PENDING,
        "answered": FilmStateKind.MODEL_ANSWER,
        "outlier": FilmStateKind.OUTLIER,
        "confirmed": FilmStateKind.CONFIRMED,
        "corrected": FilmStateKind.CORRECTED,
        "failed": FilmStateKind.FAILED,
    }
    assert [s.number for s in film_states_for_case(user=clinician, case=case)] == [1, 2, 3, 4, 5, 6]
    assert states[films["answered"].pk].badge == "Model answer: scoliosis"
    assert states[films["outlier"].pk].badge == "Outlier: no class given"
    assert states[films["outlier"].pk].model_label is None  # an outlier gives no class


def test_correction_shows_the_models_answer_beside_the_readers(clinician, case, films):
    corrected = next(
        s for s in film_states_for_case(user=clinician, case=case) if s.radiograph == films["corrected"]
    )
    assert corrected.badge == "Corrected: normal"
    assert corrected.detail == "reader: normal · model: scoliosis (88.0 %)"


def test_a_label_for_a_film_the_model_gave_no_class_is_confirmed_not_corrected(clinician, case, films, reviewer):
    review_submit(radiograph=films["outlier"], reviewer=reviewer, label="scoliosis")
    state = next(s for s in film_states_for_case(user=clinician, case=case) if s.radiograph == films["outlier"])
    assert state.kind == FilmStateKind.CONFIRMED and state.badge == "Confirmed: scoliosis"
    assert state.detail == "reader: scoliosis · model: outlier: unlike the films it was trained on, no class given"


def test_reads_that_disagree_make_the_film_disputed(clinician, case, version, reviewer, second_reviewer, settings):
    radiograph = _disputed(case, version, reviewer, second_reviewer, settings)
    (state,) = film_states_for_case(user=clinician, case=case)
    assert state.radiograph == radiograph
    assert state.kind == FilmStateKind.DISPUTED
    assert "reads: normal, spondylolisthesis" in state.detail


def test_case_page_shows_every_films_badge_and_polls_its_status(clinician, case, films):
    response = page_client_for(clinician).get(f"/cases/{case.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    for words in ("Pending: the model is reading", "Model answer: scoliosis", "Outlier: no class given",
                  "Confirmed: scoliosis", "Corrected: normal", "model: scoliosis (88.0 %)"):
        assert words in html
    assert f'data-case-status-url="/cases/{case.pk}/status/"' in html
    assert "/static/cases/film_states.js" in html
    assert "<script>" not in html and "onclick" not in html  # a CSP with script-src 'self' holds


def test_case_list_shows_film_badges_per_case(clinician, case, films):
    html = page_client_for(clinician).get("/").content.decode()
    assert "Corrected: normal" in html and "Model answer: scoliosis" in html
    assert f'data-case-status-url="/cases/{case.pk}/status/"' in html


def test_status_endpoint_gives_the_case_status_and_each_film(clinician, case, films):
    response = page_client_for(clinician).get(f"/cases/{case.pk}/status/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert body["case"]["id"] == case.pk
    assert body["model_busy"] is True  # the first film still waits for the model
    by_id = {f["id"]: f for f in body["films"]}
    corrected = by_id[films["corrected"].pk]
    assert corrected["state"] == "corrected"
    assert corrected["reader_label"] == "normal" and corrected["model_label"] == "scoliosis"
    assert corrected["model_version"] == "cls-v7"


def test_status_endpoint_follows_a_new_read_without_a_reload(clinician, case, films, second_reviewer):
    url = f"/cases/{case.pk}/status/"
    answered = films["answered"].pk
    before = {f["id"]: f for f in page_client_for(clinician).get(url).json()["films"]}[answered]
    assert before["state"] == "model_answer"
    review_submit(radiograph=films["answered"], reviewer=second_reviewer, label="normal")
    after = {f["id"]: f for f in page_client_for(clinician).get(url).json()["films"]}[answered]
    assert after["state"] == "corrected" and after["badge"] == "Corrected: normal"


@pytest.mark.parametrize("persona", ["other_clinician", "outsider"])
def test_status_of_a_case_you_may_not_see_does_not_exist(persona, request, case, films):
    user = request.getfixturevalue(persona)
    assert page_client_for(user).get(f"/cases/{case.pk}/status/").status_code == 404


def test_anonymous_status_request_is_sent_to_sign_in(case):
    response = page_client_for(None).get(f"/cases/{case.pk}/status/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_case_list_shows_eight_badges_and_points_to_the_rest(clinician, case, version):
    for seed in range(10):
        support.make_radiograph(case, seed=100 + seed)
    html = page_client_for(clinician).get("/").content.decode()
    assert html.count("Pending: the model is reading") == 8
    assert "2 more on the case page" in html
