"""Training runs for real: Redis broker, PostgreSQL, a Celery worker on the `training` queue,
the real engine on a tiny synthetic dataset (no mocks)."""
from __future__ import annotations

import threading
import time

import pytest

from cases.models import CaseStatus
from inference.engine import load_checkpoint
from inference.models import Prediction
from inference.services import model_version_reread_open_cases, predictions_enqueue_for_radiographs
from registry import services as registry_services
from registry.models import ModelVersion, ModelVersionStatus
from registry.selectors import model_version_get_active
from tests.inference import support as inference_support
from tests.waiting import wait_for_status
from training.models import TrainingRun, TrainingRunStatus
from training.runs import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
FINISHED = {TrainingRunStatus.SUCCEEDED, TrainingRunStatus.FAILED, TrainingRunStatus.CANCELLED}


def wait_for_run(run_id: int, statuses=FINISHED, timeout: float = 240) -> TrainingRun:
    return wait_for_status(
        lambda: TrainingRun.objects.get(pk=run_id), statuses, timeout=timeout, every=0.2,
        detail=lambda run: f": {run.log_tail}",
    )


def test_run_produces_candidate_with_metrics_beside_active_and_better_one_is_promoted(
    training_worker, auto_activate, base_data, admin_user, random_active_model
):
    run = services.training_run_start(user=admin_user, hyperparameters={"start_from": "imagenet"})
    done = wait_for_run(run.pk)

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert done.progress == 1.0 and done.epoch == 2 and len(done.history) == 2
    assert "epoch 2/2" in done.log_tail
    candidate = ModelVersion.objects.get(training_run=done)
    evaluation = done.evaluation
    assert evaluation["candidate"]["id"] == candidate.pk
    assert evaluation["active"]["id"] == random_active_model.pk
    for side in ("candidate", "active"):
        assert "macro_f1" in evaluation[side]["metrics"]
        assert len(evaluation[side]["metrics"]["confusion_matrix"]) == 3
    assert candidate.metrics["evaluation"]["macro_f1"] == evaluation["candidate"]["metrics"]["macro_f1"]
    assert candidate.checkpoint.name and candidate.checkpoint.size > 0
    assert "starting from ImageNet weights" in done.log_tail
    # The random-weight active model answers at chance; the trained one separates the textures.
    assert evaluation["candidate"]["metrics"]["macro_f1"] > evaluation["active"]["metrics"]["macro_f1"]
    assert evaluation["gate"]["passed"] and evaluation["promoted"]
    assert model_version_get_active() == candidate
    random_active_model.refresh_from_db()
    assert random_active_model.status == ModelVersionStatus.RETIRED


def _checkpoint_metadata(version: ModelVersion) -> dict:
    with version.checkpoint.open("rb") as fh:
        return load_checkpoint(fh.read()).metadata


def test_run_fine_tunes_its_base_model(training_worker, auto_activate, base_data, admin_user, random_active_model):
    # A base model trained to a settled fit (the fixture's two epochs leave one CPU's answer to the
    # next fine-tuning epoch to chance), then fine-tuned at a fine-tuning rate.
    first = wait_for_run(services.training_run_start(
        user=admin_user, hyperparameters={"start_from": "imagenet", "epochs": 4}).pk)
    good = model_version_get_active()
    assert first.status == TrainingRunStatus.SUCCEEDED and good.training_run == first

    run = services.training_run_start(user=admin_user, hyperparameters={
        "epochs": 1, "start_from": "base", "learning_rate": 1e-3})
    assert run.base_model_version == good
    done = wait_for_run(run.pk)

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert f"fine-tuning base model {good.name} (#{good.pk})" in done.log_tail
    meta = _checkpoint_metadata(ModelVersion.objects.get(training_run=done))
    assert meta["initialised_from"]["checkpoint_sha256"] == good.sha256
    assert meta["initialised_from"]["head_rows_copied"] == good.labels
    # The checkpoint records the recipe the run trained: the run's hyper-parameters over the recipe.
    hp = done.hyperparameters
    assert {k: meta["recipe"][k] for k in hp if k in meta["recipe"]} == {
        k: v for k, v in hp.items() if k != "start_from"
    }
    # One more epoch on a good model keeps it good: the gate lets it through.
    assert done.evaluation["gate"]["passed"], done.evaluation["gate"]


def test_worse_candidate_is_not_promoted_and_says_why(training_worker, auto_activate, base_data, admin_user, random_active_model, settings):
    first = wait_for_run(services.training_run_start(user=admin_user, hyperparameters={"start_from": "imagenet"}).pk)
    assert first.status == TrainingRunStatus.SUCCEEDED, first.error
    good = model_version_get_active()
    assert good.training_run == first

    # A run that barely learns: not fine-tuning the good model but starting afresh, for one
    # epoch at a learning rate far too small for the head.
    weak = services.training_run_start(
        user=admin_user,
        hyperparameters={"epochs": 1, "learning_rate": 1e-5, "seed": 7, "start_from": "imagenet"},
    )
    done = wait_for_run(weak.pk)

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    candidate = ModelVersion.objects.get(training_run=done)
    assert candidate.status == ModelVersionStatus.CANDIDATE
    assert candidate.status_reason.startswith("Not promoted:")
    assert "below the active model's" in candidate.status_reason
    assert done.evaluation["promoted"] is False
    assert "starting from ImageNet weights" in done.log_tail
    assert model_version_get_active() == good


def test_failed_run_keeps_its_message_and_leaves_active_model_active(
    training_worker, tmp_path, settings, base_data, admin_user, random_active_model
):
    (base_data / "normal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    run = services.training_run_start(user=admin_user)
    done = wait_for_run(run.pk)

    assert done.status == TrainingRunStatus.FAILED
    assert done.error and "failed" in done.log_tail
    assert done.finished_at is not None
    assert model_version_get_active() == random_active_model
    assert not ModelVersion.objects.filter(training_run=done).exists()
    # The slot is free again.
    services.training_run_start(user=admin_user)


def test_running_run_can_be_cancelled(training_worker, base_data, admin_user, random_active_model):
    run = services.training_run_start(user=admin_user, hyperparameters={"epochs": 40})
    wait_for_run(run.pk, statuses={TrainingRunStatus.RUNNING}, timeout=60)

    cancelled = threading.Event()

    def cancel_when_training() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if TrainingRun.objects.get(pk=run.pk).epoch >= 1:
                services.training_run_cancel(training_run=run, user=admin_user)
                cancelled.set()
                return
            time.sleep(0.1)

    thread = threading.Thread(target=cancel_when_training)
    thread.start()
    done = wait_for_run(run.pk, timeout=120)
    thread.join()

    assert cancelled.is_set()
    assert done.status == TrainingRunStatus.CANCELLED
    assert done.epoch < 40
    assert model_version_get_active() == random_active_model
    assert not ModelVersion.objects.filter(training_run=done).exists()


def test_rollback_switches_new_uploads_to_the_old_version(
    training_worker, auto_activate, base_data, admin_user, random_active_model, clinician
):
    done = wait_for_run(services.training_run_start(user=admin_user).pk)
    new = model_version_get_active()
    assert new.training_run == done

    registry_services.model_version_rollback(user=admin_user, reason="clinicians report odd answers")

    assert model_version_get_active() == random_active_model
    case = inference_support.make_case(clinician)
    radiograph = inference_support.make_radiograph(case, seed=5)
    [prediction] = predictions_enqueue_for_radiographs(radiograph_ids=[radiograph.pk])
    assert prediction.model_version == random_active_model
    deadline = time.monotonic() + 60
    while Prediction.objects.get(pk=prediction.pk).status not in {"succeeded", "failed"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert Prediction.objects.get(pk=prediction.pk).model_version == random_active_model
    # And re-reading open cases with the newer model adds predictions beside the old ones.
    assert case.status != CaseStatus.REVIEWED
    count = model_version_reread_open_cases(model_version=new, user=admin_user)
    assert count >= 1
    versions = set(Prediction.objects.filter(radiograph=radiograph).values_list("model_version", flat=True))
    assert versions == {random_active_model.pk, new.pk}
