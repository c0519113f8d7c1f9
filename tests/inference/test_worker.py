"""The queue for real: Redis broker, PostgreSQL, and a Celery worker (not eager mode)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from inference import services
from inference.models import Prediction, PredictionStatus
from inference.tasks import prediction_run
from tests.inference import support
from tests.processes import process_groups_stop
from tests.waiting import wait_for_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(prediction_id: int, statuses: set[str], timeout: float = 90) -> Prediction:
    return wait_for_status(lambda: Prediction.objects.get(pk=prediction_id), statuses, timeout=timeout, every=0.05)


def test_upload_is_predicted_by_a_real_worker(worker, case, model_version):
    radiograph = support.make_radiograph(case)
    # As the upload hook does after its commit: rows + tasks sent on commit.
    [prediction] = services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])

    done = _wait_for(prediction.pk, {"succeeded", "failed"})

    assert done.status == PredictionStatus.SUCCEEDED, done.error
    assert done.label in support.LABELS and done.gradcam.name
    case.refresh_from_db()
    assert case.status == "awaiting_review"


def test_same_task_sent_twice_leaves_one_prediction(worker, case, model_version):
    radiograph = support.make_radiograph(case)
    [prediction] = services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])
    prediction_run.apply_async(args=[prediction.pk], task_id=prediction.celery_task_id)
    prediction_run.apply_async(args=[prediction.pk])

    done = _wait_for(prediction.pk, {"succeeded", "failed"})
    time.sleep(1.0)  # let the duplicates be consumed

    assert done.status == "succeeded"
    assert Prediction.objects.filter(radiograph=radiograph).count() == 1
    assert Prediction.objects.get(pk=prediction.pk).attempts == 1


def test_unreadable_image_gives_failed_prediction_with_message(worker, case, model_version):
    radiograph = support.make_radiograph(case, data=b"\x89PNG\r\n\x1a\n truncated")
    [prediction] = services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])

    done = _wait_for(prediction.pk, {"succeeded", "failed"})

    assert done.status == PredictionStatus.FAILED
    assert "could not be read" in done.error
    assert done.attempts == 1


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_subprocess_worker(name: str, extra_env: dict[str, str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.inference.worker_settings",
        "DATABASE_URL": _database_url(),
        "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scoliosis_portal", "worker", "-P", "solo",
         "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(f"/tmp/worker-{name}.log", "w"),
        start_new_session=True,
    )


def test_task_of_a_killed_worker_is_redelivered_and_completes(clean_broker, case, model_version):
    radiograph = support.make_radiograph(case)
    [prediction] = services.predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])
    first = _start_subprocess_worker("doomed", {"TEST_SLOW_MODEL_LOAD_SECONDS": "30"})
    second = None
    try:
        running = _wait_for(prediction.pk, {"running", "succeeded", "failed"}, timeout=120)
        assert running.status == "running", "the first worker should still be mid-task"
        os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown, no ack: the message is in flight
        first.wait(timeout=10)
        assert Prediction.objects.get(pk=prediction.pk).status == "running"

        second = _start_subprocess_worker("rescuer", {})
        done = _wait_for(prediction.pk, {"succeeded", "failed"}, timeout=120)
    finally:
        process_groups_stop(*(process for process in (first, second) if process is not None))

    assert done.status == "succeeded", done.error
    assert done.attempts == 2  # claimed by the killed worker, then by the redelivery
    assert done.celery_task_id == prediction.celery_task_id
    assert Prediction.objects.filter(radiograph=radiograph).count() == 1


def test_api_upload_is_predicted_and_shown_in_the_radiograph_api(worker, case, clinician, model_version):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=clinician)
    upload = SimpleUploadedFile("spine.png", support.png_bytes(width=200, height=300, seed=7), "image/png")
    response = client.post(f"/api/v1/cases/{case.pk}/radiographs/", {"file": [upload]}, format="multipart")
    assert response.status_code == 201, response.content
    radiograph_id = response.json()["radiographs"][0]["id"]

    prediction = Prediction.objects.get(radiograph_id=radiograph_id)
    _wait_for(prediction.pk, {"succeeded", "failed"})

    shown = client.get(f"/api/v1/radiographs/{radiograph_id}/").json()["prediction"]
    assert shown["status"] == "succeeded" and shown["label"] in support.LABELS
    assert client.get(shown["gradcam_url"]).status_code == 200
