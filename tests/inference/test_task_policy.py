"""The task's delivery policy: late ack, redelivery on worker loss, limits, retry on transient
errors, a readable failure on anything unexpected."""
from __future__ import annotations

import pytest
from django.db import OperationalError

from inference import services, tasks
from inference.models import Prediction
from tests.inference import support

pytestmark = pytest.mark.django_db


def test_prediction_task_is_built_for_redelivery_and_has_limits(settings):
    task = tasks.prediction_run
    assert task.acks_late is True and task.reject_on_worker_lost is True
    assert 0 < task.soft_time_limit < task.time_limit
    assert settings.INFERENCE_STUCK_AFTER_SECONDS > task.time_limit
    assert settings.CELERY_BEAT_SCHEDULE["inference-sweep-stuck-predictions"]["task"] == (
        "inference.tasks.predictions_sweep"
    )


def test_transient_database_error_is_retried_then_succeeds(case, model_version, monkeypatch):
    radiograph = support.make_radiograph(case)
    prediction = Prediction.objects.create(radiograph=radiograph, model_version=model_version)
    calls = {"n": 0}
    real = services.prediction_run

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "prediction_run", flaky)
    monkeypatch.setattr(tasks, "_backoff", lambda retries: 0)
    tasks.prediction_run.apply(args=[prediction.pk], task_id="retry-1")
    prediction.refresh_from_db()
    assert calls["n"] == 3
    assert prediction.status == "succeeded"


def test_unexpected_error_fails_the_row_readably_without_retrying(case, model_version, monkeypatch):
    radiograph = support.make_radiograph(case)
    prediction = Prediction.objects.create(radiograph=radiograph, model_version=model_version)

    def broken(*, prediction_id, task_id):
        services._claim(prediction_id=prediction_id, task_id=task_id)
        raise RuntimeError("bug")

    monkeypatch.setattr(services, "prediction_run", broken)
    tasks.prediction_run.apply(args=[prediction.pk], task_id="bug-1")
    prediction.refresh_from_db()
    assert prediction.status == "failed"
    assert "Unexpected error" in prediction.error and "RuntimeError" in prediction.error


def test_no_active_model_leaves_radiographs_waiting(case):
    from registry.models import ModelVersion

    ModelVersion.objects.filter(status="active").update(status="retired")
    radiograph = support.make_radiograph(case)
    assert services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk]) == []
    case.refresh_from_db()
    assert case.status == "awaiting_model"
