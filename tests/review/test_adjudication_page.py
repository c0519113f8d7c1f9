"""The adjudication page: disputed films with the reads side by side, settled with a label and
a reason, audited; open to admins and senior reviewers, never a window on patient identity."""
from __future__ import annotations

import pytest

from cases.models import Radiograph
from cases.services import user_create
from reviews.services import review_submit
from tests.inference import support
from tests.signin import page_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def disputed(case, reviewer, second_reviewer, settings):
    settings.REVIEW_AGREEMENT_REQUIRED = 2
    version = support.make_model_version_row(name="cls-v3")
    radiograph = support.make_radiograph(case, seed=21)
    support.make_finished_prediction(radiograph, version, label="scoliosis", confidence=0.7)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="normal", comment="straight enough")
    review_submit(radiograph=radiograph, reviewer=second_reviewer, label="scoliosis")
    agreed = support.make_radiograph(case, seed=22)
    support.make_finished_prediction(agreed, version, label="normal", confidence=0.9)
    review_submit(radiograph=agreed, reviewer=reviewer, label="normal")
    return radiograph


@pytest.fixture
def senior(db):
    return user_create(username="senior-sam", role="senior_reviewer", password="x-pass-12345!")


def test_admin_sees_disputed_films_with_reads_side_by_side_and_no_patient(admin_user, disputed, case):
    response = page_client_for(admin_user).get("/review/adjudication/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Film #{disputed.pk}" in html
    assert html.count('data-dispute="') == 1  # only the disputed film, not the agreed one
    for words in ("reviewer-rita", "reviewer-ravi", "straight enough", "scoliosis (70.0 %)", "ungradable"):
        assert words in html
    assert case.patient_reference not in html
    assert f"/cases/{case.pk}/" not in html


def test_admin_settles_a_dispute_with_a_reason_and_it_is_audited(admin_user, disputed):
    response = page_client_for(admin_user).post(
        f"/review/adjudication/{disputed.pk}/", {"label": "scoliosis", "reason": "Cobb 14° on review"}
    )
    assert response.status_code == 302
    disputed.refresh_from_db()
    assert disputed.confirmed_label == "scoliosis" and disputed.adjudicated_by == admin_user
    record = disputed.history.latest()
    assert record.history_user == admin_user
    assert record.history_change_reason == "adjudicated: Cobb 14° on review"
    assert "No disputed reads" in page_client_for(admin_user).get("/review/adjudication/").content.decode()


def test_settling_without_a_reason_changes_nothing(admin_user, disputed):
    page_client_for(admin_user).post(f"/review/adjudication/{disputed.pk}/", {"label": "scoliosis", "reason": " "})
    disputed.refresh_from_db()
    assert disputed.confirmed_label == ""


def test_a_label_outside_the_models_set_is_refused(admin_user, disputed):
    client = page_client_for(admin_user)
    client.post(f"/review/adjudication/{disputed.pk}/", {"label": "fracture", "reason": "x"})
    disputed.refresh_from_db()
    assert disputed.confirmed_label == ""
    assert "Choose one of" in client.get("/review/adjudication/").content.decode()


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_only_adjudicators_reach_the_page_or_settle(persona, request, disputed):
    client = page_client_for(request.getfixturevalue(persona))
    assert client.get("/review/adjudication/").status_code == 403
    post = client.post(f"/review/adjudication/{disputed.pk}/", {"label": "normal", "reason": "x"})
    assert post.status_code == 403
    assert Radiograph.objects.get(pk=disputed.pk).confirmed_label == ""


def test_senior_reviewer_settles_a_film_they_did_not_read(senior, disputed, case):
    client = page_client_for(senior)
    html = client.get("/review/adjudication/").content.decode()
    assert f"Settle film #{disputed.pk}" in html
    assert case.patient_reference not in html
    client.post(f"/review/adjudication/{disputed.pk}/", {"label": "normal", "reason": "third read"})
    disputed.refresh_from_db()
    assert disputed.confirmed_label == "normal" and disputed.adjudicated_by == senior


def test_senior_reviewer_who_read_the_film_cannot_settle_it(senior, disputed):
    review_submit(radiograph=disputed, reviewer=senior, label="normal")
    client = page_client_for(senior)
    assert f"Settle film #{disputed.pk}" not in client.get("/review/adjudication/").content.decode()
    post = client.post(f"/review/adjudication/{disputed.pk}/", {"label": "normal", "reason": "mine"})
    assert post.status_code == 403
    assert Radiograph.objects.get(pk=disputed.pk).confirmed_label == ""


def test_adjudication_link_is_in_the_navigation_of_adjudicators_only(admin_user, reviewer, disputed):
    assert "/review/adjudication/" in page_client_for(admin_user).get("/").content.decode()
    assert "/review/adjudication/" not in page_client_for(reviewer).get("/").content.decode()


def test_review_queue_rows_show_a_thumbnail_and_just_now(reviewer, case):
    version = support.make_model_version_row()
    radiograph = support.make_radiograph(case, seed=30)
    support.make_finished_prediction(radiograph, version, label="normal", confidence=0.5)
    client = page_client_for(reviewer)
    html = client.get("/inference/review/").content.decode()
    assert f'src="/api/v1/radiographs/{radiograph.pk}/thumbnail/"' in html
    thumbnail = client.get(f"/api/v1/radiographs/{radiograph.pk}/thumbnail/")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
    assert "just now" in html and "0\xa0minutes" not in html and "0 minutes" not in html


def test_senior_reviewer_may_adjudicate_through_the_api_too(senior, reviewer, disputed):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=senior)
    url = f"/api/v1/radiographs/{disputed.pk}/adjudication/"
    assert api.post(url, {"label": "scoliosis", "reason": "api"}).status_code == 200
    api.force_authenticate(user=reviewer)
    assert api.post(url, {"label": "normal"}).status_code == 403
    disputed.refresh_from_db()
    assert disputed.confirmed_label == "scoliosis" and disputed.adjudicated_by == senior
