"""Review: queue, reads, confirmed labels, adjudication, agreement — and who may do what."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Radiograph
from reviews import selectors
from reviews.models import Review
from reviews.services import in_evaluation_share, review_submit
from tests.inference import support
from tests.signin import api_client_for, page_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return support.make_model_version_row()


@pytest.fixture
def read_ready(case, version):
    """Three radiographs the model has read: confident, unsure, and out of distribution."""
    confident = support.make_radiograph(case, seed=1)
    support.make_finished_prediction(confident, version, label="normal", confidence=0.95)
    unsure = support.make_radiograph(case, seed=2)
    support.make_finished_prediction(unsure, version, label="scoliosis", confidence=0.41)
    odd = support.make_radiograph(case, seed=3)
    support.make_finished_prediction(odd, version, label="normal", confidence=0.99, ood=True)
    return confident, unsure, odd


# --- queue ----------------------------------------------------------------------------------------


def test_queue_lists_most_uncertain_first_without_patient_identity(reviewer, read_ready, case):
    confident, unsure, odd = read_ready
    pending = support.make_radiograph(case, seed=9)  # no prediction yet: not in the queue
    response = api_client_for(reviewer).get("/api/v1/review-queue/")
    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["results"]]
    assert ids == [odd.pk, unsure.pk, confident.pk]
    assert pending.pk not in ids
    raw = response.content.decode()
    assert case.patient_reference not in raw
    item = response.json()["results"][0]
    assert not {"case", "patient_reference", "sex", "birth_year"} & set(item)


def test_queue_filters_by_predicted_label_and_age(reviewer, read_ready, settings):
    settings.REVIEW_BLIND_READING = False  # the predicted_label filter exists only outside blind reading
    confident, unsure, odd = read_ready
    Radiograph.objects.filter(pk=confident.pk).update(uploaded_at=timezone.now() - timedelta(days=10))
    by_label = api_client_for(reviewer).get("/api/v1/review-queue/?predicted_label=scoliosis").json()
    assert [i["id"] for i in by_label["results"]] == [unsure.pk]
    old = api_client_for(reviewer).get("/api/v1/review-queue/?min_age_days=5").json()
    assert [i["id"] for i in old["results"]] == [confident.pk]
    recent = api_client_for(reviewer).get("/api/v1/review-queue/?max_age_days=5").json()
    assert confident.pk not in [i["id"] for i in recent["results"]]
    assert api_client_for(reviewer).get("/api/v1/review-queue/?min_age_days=x").status_code == 400


def test_queue_drops_what_i_read_and_puts_disagreement_first(reviewer, second_reviewer, read_ready, settings):
    settings.REVIEW_AGREEMENT_REQUIRED = 2
    confident, unsure, odd = read_ready
    third = support.make_user("rev-c", "reviewer")
    review_submit(radiograph=confident, reviewer=reviewer, label="normal")
    review_submit(radiograph=confident, reviewer=second_reviewer, label="scoliosis")
    mine = [i["id"] for i in api_client_for(reviewer).get("/api/v1/review-queue/").json()["results"]]
    assert confident.pk not in mine
    theirs = api_client_for(third).get("/api/v1/review-queue/").json()["results"]
    assert [i["id"] for i in theirs][:2] == [odd.pk, confident.pk]
    assert theirs[1]["disagreement"] is True


def test_only_reviewers_get_the_queue(clinician, outsider, admin_user, read_ready):
    for user in (clinician, outsider, admin_user):
        assert api_client_for(user).get("/api/v1/review-queue/").status_code == 403
        assert page_client_for(user).get("/inference/review/").status_code == 403
    assert api_client_for(None).get("/api/v1/review-queue/").status_code == 401


# --- reads ----------------------------------------------------------------------------------------


def test_reviewer_reads_then_changes_their_read_audited(reviewer, read_ready):
    _, unsure, _ = read_ready
    url = f"/api/v1/radiographs/{unsure.pk}/reviews/"
    first = api_client_for(reviewer).post(url, {"label": "scoliosis", "comment": "clear curve"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["confirmed_label"] == "scoliosis"
    second = api_client_for(reviewer).post(url, {"label": "normal"}, format="json")
    assert second.status_code == 200
    review = Review.objects.get(radiograph=unsure, reviewer=reviewer)
    assert review.label == "normal"
    assert list(review.history.values_list("label", flat=True)) == ["normal", "scoliosis"]
    assert review.history.first().history_user == reviewer
    unsure.refresh_from_db()
    assert unsure.confirmed_label == "normal"


def test_clinician_and_outsider_may_not_review(clinician, outsider, admin_user, read_ready):
    _, unsure, _ = read_ready
    url = f"/api/v1/radiographs/{unsure.pk}/reviews/"
    for user in (clinician, outsider, admin_user):
        assert api_client_for(user).post(url, {"label": "normal"}, format="json").status_code == 403
    assert api_client_for(None).post(url, {"label": "normal"}, format="json").status_code == 401
    assert not Review.objects.exists()


def test_label_must_come_from_the_model_label_set_or_ungradable(reviewer, read_ready):
    _, unsure, _ = read_ready
    url = f"/api/v1/radiographs/{unsure.pk}/reviews/"
    assert api_client_for(reviewer).post(url, {"label": "fracture"}, format="json").status_code == 400
    assert api_client_for(reviewer).post(url, {"label": "ungradable"}, format="json").status_code == 201
    assert api_client_for(reviewer).post("/api/v1/radiographs/999999/reviews/", {"label": "normal"},
                               format="json").status_code == 404


def test_reads_visible_per_role(reviewer, second_reviewer, clinician, other_clinician, admin_user, read_ready):
    _, unsure, _ = read_ready
    review_submit(radiograph=unsure, reviewer=reviewer, label="scoliosis", comment="mine")
    review_submit(radiograph=unsure, reviewer=second_reviewer, label="scoliosis", comment="theirs")
    url = f"/api/v1/radiographs/{unsure.pk}/reviews/"
    as_reviewer = api_client_for(reviewer).get(url).json()
    assert [r["comment"] for r in as_reviewer["reads"]] == ["mine"]
    as_owner = api_client_for(clinician).get(url).json()
    assert len(as_owner["reads"]) == 2 and all(r["reviewer"] is None for r in as_owner["reads"])
    assert as_owner["confirmed_label"] == "scoliosis"
    assert len(api_client_for(admin_user).get(url).json()["reads"]) == 2
    assert api_client_for(other_clinician).get(url).status_code == 404


def test_radiograph_api_carries_confirmed_label_and_the_reads_this_user_may_see(
    reviewer, second_reviewer, clinician, read_ready
):
    confident, unsure, _ = read_ready
    review_submit(radiograph=unsure, reviewer=reviewer, label="scoliosis", comment="mine")
    review_submit(radiograph=unsure, reviewer=second_reviewer, label="scoliosis", comment="theirs")
    as_owner = api_client_for(clinician).get(f"/api/v1/radiographs/{unsure.pk}/").json()
    assert as_owner["confirmed_label"] == "scoliosis"
    assert len(as_owner["reads"]) == 2 and all(r["reviewer"] is None for r in as_owner["reads"])
    as_reviewer = api_client_for(reviewer).get(f"/api/v1/radiographs/{unsure.pk}/").json()
    assert [r["comment"] for r in as_reviewer["reads"]] == ["mine"]
    unread = api_client_for(clinician).get(f"/api/v1/radiographs/{confident.pk}/").json()
    assert unread["confirmed_label"] is None and unread["reads"] == []


# --- confirmed label ------------------------------------------------------------------------------


def test_agreement_required_and_disagreement_needs_adjudication(
    reviewer, second_reviewer, admin_user, read_ready, settings
):
    settings.REVIEW_AGREEMENT_REQUIRED = 2
    _, unsure, _ = read_ready
    review_submit(radiograph=unsure, reviewer=reviewer, label="scoliosis")
    unsure.refresh_from_db()
    assert unsure.confirmed_label == ""
    review_submit(radiograph=unsure, reviewer=second_reviewer, label="normal")
    unsure.refresh_from_db()
    assert unsure.confirmed_label == ""
    url = f"/api/v1/radiographs/{unsure.pk}/adjudication/"
    assert api_client_for(reviewer).post(url, {"label": "scoliosis"}, format="json").status_code == 403
    response = api_client_for(admin_user).post(url, {"label": "scoliosis", "reason": "curve > 10°"}, format="json")
    assert response.status_code == 200
    unsure.refresh_from_db()
    assert unsure.confirmed_label == "scoliosis" and unsure.adjudicated_by == admin_user
    assert unsure.case.status in ("awaiting_review", "reviewed")


def test_one_read_confirms_by_default_and_case_becomes_reviewed(reviewer, case, version):
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="scoliosis")
    radiograph.refresh_from_db()
    case.refresh_from_db()
    assert radiograph.confirmed_label == "scoliosis" and radiograph.confirmed_at
    assert case.status == "reviewed"


def test_evaluation_set_membership_is_decided_once_by_id_hash(reviewer, second_reviewer, case, version, settings):
    settings.REVIEW_EVALUATION_SHARE = 1.0
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="normal")
    radiograph.refresh_from_db()
    assert radiograph.in_evaluation_set is True
    # Later changes of the share never reshuffle a radiograph already decided.
    settings.REVIEW_EVALUATION_SHARE = 0.0
    review_submit(radiograph=radiograph, reviewer=reviewer, label="scoliosis")
    radiograph.refresh_from_db()
    assert radiograph.in_evaluation_set is True
    settings.REVIEW_EVALUATION_SHARE = 0.3
    shares = [in_evaluation_share(i) for i in range(2000)]
    assert shares == [in_evaluation_share(i) for i in range(2000)]
    assert 0.25 < sum(shares) / len(shares) < 0.35


# --- pages ----------------------------------------------------------------------------------------


def test_blind_read_hides_the_answer_until_committed_then_moves_on(reviewer, read_ready):
    confident, unsure, odd = read_ready
    client = page_client_for(reviewer)
    queue = client.get("/inference/review/").content.decode()
    assert "Blind reading is <strong>on</strong>" in queue and "MRN" not in queue
    url = f"/inference/review/radiographs/{odd.pk}/"
    before = client.get(url).content.decode()
    assert "Blind read" in before and 'id="prediction-panel"' not in before
    assert "Decision aid, not a diagnosis" in before and "MRN" not in before
    response = client.post(url, {"label": "ungradable", "comment": "lateral chest"})
    assert response.status_code == 302 and response.url == url
    after = client.get(url).content.decode()
    assert 'id="prediction-panel"' in after and "does not look like" in after
    assert f"/inference/review/radiographs/{unsure.pk}/" in after  # next item
    assert Review.objects.get(radiograph=odd).blind is True


def test_non_blind_read_goes_straight_to_the_next_item(reviewer, read_ready, settings):
    settings.REVIEW_BLIND_READING = False
    confident, unsure, odd = read_ready
    client = page_client_for(reviewer)
    page = client.get(f"/inference/review/radiographs/{unsure.pk}/").content.decode()
    assert 'id="prediction-panel"' in page
    response = client.post(f"/inference/review/radiographs/{unsure.pk}/", {"label": "scoliosis"})
    assert response.status_code == 302 and response.url == f"/inference/review/radiographs/{odd.pk}/"
    assert Review.objects.get(radiograph=unsure).blind is False


def test_clinician_cannot_open_readingpage_client(clinician, other_clinician, read_ready):
    _, unsure, _ = read_ready
    for user in (clinician, other_clinician):
        assert page_client_for(user).get(f"/inference/review/radiographs/{unsure.pk}/").status_code == 403
        assert page_client_for(user).post(f"/inference/review/radiographs/{unsure.pk}/", {"label": "normal"}).status_code == 403


# --- agreement ------------------------------------------------------------------------------------


def test_cohen_kappa_known_values():
    assert selectors.cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert selectors.cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)
    pairs = [("a", "a")] * 20 + [("a", "b")] * 5 + [("b", "a")] * 10 + [("b", "b")] * 15
    assert selectors.cohen_kappa(pairs) == pytest.approx(0.4)
    assert selectors.cohen_kappa([]) is None


def test_agreement_report_for_admins_only(admin_user, reviewer, second_reviewer, clinician, read_ready):
    confident, unsure, odd = read_ready
    review_submit(radiograph=confident, reviewer=reviewer, label="normal")  # model right
    review_submit(radiograph=unsure, reviewer=reviewer, label="normal")  # model said scoliosis
    review_submit(radiograph=unsure, reviewer=second_reviewer, label="normal")
    body = api_client_for(admin_user).get("/api/v1/agreement/").json()
    assert body["confusion_matrix"]["normal"]["normal"] == 1
    assert body["confusion_matrix"]["normal"]["scoliosis"] == 1
    assert body["sensitivity"]["normal"] == pytest.approx(0.5)
    assert body["pooled_pairs"] == 1
    version_id = unsure.predictions.get().model_version_id
    today = timezone.now().date().isoformat()
    filtered = api_client_for(admin_user).get(f"/api/v1/agreement/?since={today}&until={today}&model_version={version_id}")
    assert filtered.json()["compared"] == 2
    assert api_client_for(admin_user).get("/api/v1/agreement/?since=2001-01-01&until=2001-01-02").json()["compared"] == 0
    page = page_client_for(admin_user).get("/inference/review/agreement/")
    assert page.status_code == 200 and "Cohen" in page.content.decode()
    for user in (reviewer, clinician):
        assert api_client_for(user).get("/api/v1/agreement/").status_code == 403
        assert page_client_for(user).get("/inference/review/agreement/").status_code == 403


def test_reading_page_gives_sex_and_age_band_not_identity(reviewer, read_ready, case):
    confident, _, _ = read_ready
    Radiograph.objects.filter(pk=confident.pk).update(uploaded_at=timezone.now().replace(year=2026))
    type(case).objects.filter(pk=case.pk).update(sex="F", birth_year=2013)
    url = reverse("reviews:review_read", kwargs={"radiograph_id": confident.pk})
    response = page_client_for(reviewer).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Patient: Female, aged 10-19" in page
    assert "2013" not in page and case.patient_reference not in page
