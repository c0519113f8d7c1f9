"""Queueing and running Cobb measurements without a worker: the rows, idempotency, the sweep."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inference import measuring, services
from inference.models import Measurement, PredictionStatus
from tests.inference import support

pytestmark = pytest.mark.django_db


def test_upload_without_a_landmark_model_is_classified_but_not_queued_for_measuring(
    case, model_version, django_capture_on_commit_callbacks
):
    radiograph = support.make_radiograph(case)
    with django_capture_on_commit_callbacks(execute=False):
        predictions = services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk], measure=True)
    assert len(predictions) == 1
    assert not Measurement.objects.exists()


def test_upload_queues_one_measurement_by_the_active_landmark_model(
    case, model_version, django_capture_on_commit_callbacks
):
    landmarks = support.make_active_landmark_version()
    radiograph = support.make_radiograph(case)
    for _ in range(2):  # the hook delivered twice still makes one row
        with django_capture_on_commit_callbacks(execute=False):
            services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk], measure=True)
    [measurement] = Measurement.objects.filter(radiograph=radiograph)
    assert measurement.model_version == landmarks and measurement.status == PredictionStatus.QUEUED


def test_a_measurement_runs_once_even_when_delivered_twice(case):
    version = support.make_active_landmark_version(data=support.measuring_landmark_checkpoint_bytes())
    radiograph = support.make_radiograph(case, data=support.synthetic_film_png(0))
    [(measurement_id, task_id)] = measuring.measurements_create_for_radiographs(
        radiograph_ids=[radiograph.pk], model_version=version
    ).values()

    first = measuring.measurement_run(measurement_id=measurement_id, task_id=task_id)
    again = measuring.measurement_run(measurement_id=measurement_id, task_id="another-delivery")

    assert first.status == PredictionStatus.SUCCEEDED and first.attempts == 1
    assert again is None
    assert Measurement.objects.get(pk=measurement_id).attempts == 1


def test_unreadable_image_fails_the_measurement_with_a_message(case):
    version = support.make_active_landmark_version()
    radiograph = support.make_radiograph(case, data=b"\x89PNG\r\n\x1a\n truncated")
    [(measurement_id, task_id)] = measuring.measurements_create_for_radiographs(
        radiograph_ids=[radiograph.pk], model_version=version
    ).values()

    done = measuring.measurement_run(measurement_id=measurement_id, task_id=task_id)

    assert done.status == PredictionStatus.FAILED and "could not be read" in done.error


def test_sweep_requeues_stuck_measurements_and_fails_hopeless_ones(
    settings, case, django_capture_on_commit_callbacks
):
    settings.INFERENCE_MAX_ATTEMPTS = 3
    version = support.make_active_landmark_version()
    old = timezone.now() - timedelta(hours=1)
    stuck = Measurement.objects.create(radiograph=support.make_radiograph(case, seed=1), model_version=version,
                                       status="running", started_at=old, attempts=1, celery_task_id="t-1")
    hopeless = Measurement.objects.create(radiograph=support.make_radiograph(case, seed=2), model_version=version,
                                          status="running", started_at=old, attempts=3)
    with django_capture_on_commit_callbacks(execute=False):
        counts = services.predictions_requeue_stuck()
    assert counts["measurements_requeued"] == 1 and counts["measurements_failed"] == 1
    stuck.refresh_from_db()
    hopeless.refresh_from_db()
    assert stuck.status == "queued" and stuck.celery_task_id != "t-1"
    assert hopeless.status == "failed" and "Gave up" in hopeless.error


def test_rereading_open_cases_with_a_landmark_model_remeasures_and_leaves_predictions(
    admin_user, case, model_version, django_capture_on_commit_callbacks
):
    from inference.models import Prediction

    radiograph = support.make_radiograph(case)
    landmarks = support.make_active_landmark_version()
    with django_capture_on_commit_callbacks(execute=False):
        count = services.model_version_reread_open_cases(model_version=landmarks, user=admin_user)

    assert count == 1
    assert Measurement.objects.get(radiograph=radiograph).model_version == landmarks
    assert not Prediction.objects.filter(radiograph=radiograph).exists()


def test_a_landmark_model_is_never_queued_as_a_classifier(case):
    landmarks = support.make_active_landmark_version()
    with pytest.raises(ValueError, match="not a classifier"):
        services.predictions_enqueue_for_radiographs(
            radiograph_ids=[support.make_radiograph(case).pk], model_version=landmarks
        )
