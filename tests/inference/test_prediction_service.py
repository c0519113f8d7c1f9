"""prediction_run called directly (the task function's body), against real PostgreSQL."""
from __future__ import annotations

import pytest
from django.db import transaction

from cases.models import CaseStatus
from cases.services import case_status_refresh
from inference import services
from inference.models import Prediction, PredictionStatus
from tests.inference import support

pytestmark = pytest.mark.django_db


def _queued(radiograph, version) -> Prediction:
    return Prediction.objects.create(
        radiograph=radiograph, model_version=version, celery_task_id="t-1", status="queued"
    )


def test_prediction_run_stores_label_probabilities_and_private_gradcam(case, model_version):
    radiograph = support.make_radiograph(case)
    prediction = _queued(radiograph, model_version)

    result = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")

    assert result.status == PredictionStatus.SUCCEEDED, result.error
    assert result.label in support.LABELS
    assert set(result.probabilities) == set(support.LABELS)
    assert abs(sum(result.probabilities.values()) - 1) < 1e-4
    assert result.confidence == pytest.approx(max(result.probabilities.values()))
    assert result.gradcam.name.startswith("gradcam/") and "MRN" not in result.gradcam.name
    with result.gradcam.open("rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert result.attempts == 1 and result.started_at and result.finished_at
    assert {"inference", "total"} <= set(result.timings_ms)


def test_running_the_same_prediction_twice_leaves_one_result(case, model_version):
    radiograph = support.make_radiograph(case)
    prediction = _queued(radiograph, model_version)
    first = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")
    again = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")
    assert again is None
    assert Prediction.objects.filter(radiograph=radiograph).count() == 1
    assert Prediction.objects.get().finished_at == first.finished_at


def test_unreadable_image_fails_at_once_with_a_readable_message(case, model_version):
    radiograph = support.make_radiograph(case, data=b"%PDF-1.4 not an image at all")
    prediction = _queued(radiograph, model_version)

    result = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")

    assert result.status == PredictionStatus.FAILED
    assert result.error.startswith("The image could not be read")
    assert result.attempts == 1


def test_enqueue_twice_creates_one_prediction_per_model_version(
    case, model_version, django_capture_on_commit_callbacks
):
    radiograph = support.make_radiograph(case)
    with django_capture_on_commit_callbacks(execute=False):
        services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])
        services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])
    assert Prediction.objects.filter(radiograph=radiograph).count() == 1
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_MODEL


def test_database_refuses_a_second_prediction_for_the_same_pair(case, model_version):
    from django.db import IntegrityError

    radiograph = support.make_radiograph(case)
    _queued(radiograph, model_version)
    with pytest.raises(IntegrityError), transaction.atomic():
        _queued(radiograph, model_version)


def test_case_status_follows_predictions_then_reviews(case, model_version, reviewer):
    radiograph = support.make_radiograph(case)
    prediction = _queued(radiograph, model_version)
    assert case_status_refresh(case_id=case.pk) == CaseStatus.AWAITING_MODEL
    services.prediction_run(prediction_id=prediction.pk, task_id="t-1")
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_REVIEW
    radiograph.confirmed_label = "normal"
    radiograph.save()
    assert case_status_refresh(case_id=case.pk) == CaseStatus.REVIEWED


def test_a_redelivered_message_reclaims_its_own_running_row(case, model_version):
    radiograph = support.make_radiograph(case)
    prediction = _queued(radiograph, model_version)
    # A worker claimed it and died: the row is RUNNING under the same task id.
    Prediction.objects.filter(pk=prediction.pk).update(status="running", attempts=1)
    # A different message (e.g. a duplicate send) may not take it over...
    assert services.prediction_run(prediction_id=prediction.pk, task_id="other") is None
    # ...but the redelivery of the same message does.
    result = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")
    assert result.status == PredictionStatus.SUCCEEDED
    assert result.attempts == 2


def test_sweep_requeues_stuck_rows_and_gives_up_after_max_attempts(
    case, model_version, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    settings.INFERENCE_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(hours=1)
    stuck_running = _queued(support.make_radiograph(case, seed=1), model_version)
    Prediction.objects.filter(pk=stuck_running.pk).update(status="running", started_at=old, attempts=1)
    stuck_queued = Prediction.objects.create(
        radiograph=support.make_radiograph(case, seed=2), model_version=model_version, queued_at=old
    )
    hopeless = Prediction.objects.create(
        radiograph=support.make_radiograph(case, seed=3), model_version=model_version,
        status="running", started_at=old, attempts=3,
    )
    fresh = Prediction.objects.create(
        radiograph=support.make_radiograph(case, seed=4), model_version=model_version,
        queued_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = services.predictions_requeue_stuck()
    assert counts["requeued"] == 2 and counts["failed"] == 1
    assert len(callbacks) >= 1
    stuck_running.refresh_from_db()
    assert stuck_running.status == "queued" and stuck_running.celery_task_id != "t-1"
    assert Prediction.objects.get(pk=stuck_queued.pk).status == "queued"
    hopeless.refresh_from_db()
    assert hopeless.status == "failed" and "Gave up" in hopeless.error
    assert Prediction.objects.get(pk=fresh.pk).queued_at > old


def test_sweep_queues_radiographs_that_never_got_a_prediction(
    case, model_version, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from cases.models import Radiograph

    radiograph = support.make_radiograph(case)
    Radiograph.objects.filter(pk=radiograph.pk).update(uploaded_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        counts = services.predictions_requeue_stuck()
    assert counts["created"] == 1
    assert Prediction.objects.get(radiograph=radiograph).status == "queued"


def test_out_of_distribution_flag_comes_from_the_checkpoint_threshold(case):
    version = support.make_active_model_version(ood_threshold=0.0)
    prediction = _queued(support.make_radiograph(case), version)
    result = services.prediction_run(prediction_id=prediction.pk, task_id="t-1")
    assert result.status == "succeeded" and result.out_of_distribution is True


def test_admin_requeue_uses_the_sweep_service_gives_attempts_back_and_is_audited(
    admin_user, client_as, case, model_version, django_capture_on_commit_callbacks
):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.urls import reverse

    failed = support.make_finished_prediction(support.make_radiograph(case, seed=3), model_version, status="failed")
    Prediction.objects.filter(pk=failed.pk).update(attempts=5, celery_task_id="old-task")
    done = support.make_finished_prediction(support.make_radiograph(case, seed=4), model_version)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_as(admin_user).post(
            reverse("admin:inference_prediction_changelist"),
            {"action": "requeue", "_selected_action": [failed.pk, done.pk]},
        )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error) == (PredictionStatus.QUEUED, 0, "")
    assert failed.celery_task_id != "old-task" and len(callbacks) == 1
    done.refresh_from_db()
    assert done.status == PredictionStatus.SUCCEEDED  # a finished answer is never re-queued
    entry = LogEntry.objects.get(object_id=str(failed.pk))
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert "Re-queued by admin-ada" in entry.change_message
