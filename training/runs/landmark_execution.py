"""Execution of a landmark training run in the `training` worker (called through
training.runs.execution, which claims the row and records failures).

`import torch` happens only inside these functions, never in the web process.
"""
from __future__ import annotations

import io
import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from registry.models import ModelKind, ModelVersion
from registry.selectors import model_version_get_active
from registry.services import model_version_activate, model_version_register
from training.models import TrainingRun, TrainingRunStatus
from training.runs.gate import landmark_model_version_evaluate_gate
from training.runs.hyperparameters import landmark_hyperparameters_clean

logger = logging.getLogger(__name__)
TRAINING_SHARE = 0.8  # of the progress bar; evaluation of both models takes the rest


class _LandmarkProgress:
    """Adapts the landmark loop's per-epoch records to the run row: progress follows the wall
    clock against the time budget (or epochs against max_epochs, whichever is further)."""

    def __init__(self, reporter, hp: dict[str, Any]):
        self.reporter = reporter
        self.budget_s = hp["minutes"] * 60.0
        self.max_epochs = hp["max_epochs"]

    def __call__(self, record: dict[str, Any]) -> None:
        r = self.reporter
        r.history.append(record)
        r.log_line(f"epoch {record['epoch']} step {record['steps']} loss {record['loss']:.4f} "
                   f"({record['seconds']:.0f} s)")
        done = max(record["seconds"] / self.budget_s, record["epoch"] / self.max_epochs)
        r.write(progress=min(TRAINING_SHARE, TRAINING_SHARE * done), epoch=record["epoch"],
                metrics={k: v for k, v in record.items() if isinstance(v, int | float)},
                log_tail=r.log, history=r.history)


def _config(hp: dict[str, Any], run: TrainingRun, init_checkpoint: str | None = None):
    from training.engine import LandmarkTrainConfig

    threads = getattr(settings, "TRAINING_TORCH_THREADS", None)
    base = run.base_model_version
    started = {"start_from": "imagenet"}
    if init_checkpoint is not None:
        started = {"start_from": "base", "initialised_from": {
            "model_version": {"id": base.pk, "name": base.name}, "checkpoint_sha256": base.sha256}}
    return LandmarkTrainConfig(
        time_budget_s=hp["minutes"] * 60.0, max_epochs=hp["max_epochs"], input_size=hp["input_size"],
        input_width=hp["input_width"], head_width=hp["head_width"], batch_size=hp["batch_size"],
        lr=hp["learning_rate"], val_fraction=hp["val_fraction"], seed=hp["seed"],
        warmup_steps=hp["warmup_steps"], freeze_stages=hp["freeze_stages"], augment=hp["augment"],
        num_threads=int(threads) if threads else None,
        pretrained=bool(getattr(settings, "TRAINING_PRETRAINED", True)), init_checkpoint=init_checkpoint,
        extra_metadata={"name": f"landmarks-run-{run.pk}", "training_run_id": run.pk, **started},
    )


@contextmanager
def _base_checkpoint_file(hp: dict[str, Any], run: TrainingRun, reporter) -> Iterator[str | None]:
    """The base landmark version's checkpoint, its stored bytes checked against the registered
    SHA-256 (training.runs.execution._initial_weights, as for the classifier), in a temporary
    file for the engine's warm start; None to start from ImageNet."""
    from training.runs.execution import _initial_weights

    data = _initial_weights(hp, run, reporter)
    if data is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="landmark-base-") as folder:
        path = Path(folder) / f"model-version-{run.base_model_version.pk}.pt"
        path.write_bytes(data)
        yield str(path)


def _train(data, hp: dict[str, Any], run: TrainingRun, reporter, data_error: type[Exception]) -> bytes:
    """Train within the budget, from the base version's weights or ImageNet's; the checkpoint."""
    from inference.engine import CheckpointError
    from training.engine import train_landmarks

    buffer = io.BytesIO()
    with _base_checkpoint_file(hp, run, reporter) as init_checkpoint:
        try:
            train_landmarks(data.train, _config(hp, run, init_checkpoint), checkpoint=buffer,
                            progress=_LandmarkProgress(reporter, hp), should_stop=reporter.should_stop)
        except CheckpointError as exc:  # the base is another architecture or canvas than this run's
            base = run.base_model_version
            raise data_error(
                f"The base landmark model {base.name} (#{base.pk}) cannot be continued with this run's "
                f"hyper-parameters ({exc}); keep its input size, input width and head width, or start "
                "from ImageNet.") from exc
    return buffer.getvalue()


def landmark_run_execute(run: TrainingRun, reporter, *, cancelled: type[Exception], data_error: type[Exception]) -> None:
    """1. collect AASCE + corrected films (evaluation part fixed); 2. train within the budget,
    continuing the base landmark version (checked against its registered SHA-256) unless the run
    starts from ImageNet or there is no base; 3. evaluate candidate and active landmark model on
    the same evaluation films; 4. register the candidate (kind landmarks) with the gate's decision
    in one transaction."""
    from training.runs.landmark_dataset import LandmarkDataMissing, landmark_training_data_collect

    hp = landmark_hyperparameters_clean(run.hyperparameters)
    try:
        data = landmark_training_data_collect()
    except LandmarkDataMissing as exc:
        raise data_error(str(exc)) from exc
    if not data.train:
        raise data_error("No landmark training films: the data folder and the corrections hold none outside the evaluation part.")
    if not data.evaluation:
        raise data_error("The landmark evaluation part is empty; nothing to compare models on.")
    reporter.log_line(f"{len(data.train)} training films ({data.counts['corrected_train']} corrected), "
                      f"{len(data.evaluation)} evaluation films ({data.counts['corrected_evaluation']} corrected)")
    reporter.write(dataset=data.counts, log_tail=reporter.log)
    if reporter.cancel_requested:
        raise cancelled
    checkpoint = _train(data, hp, run, reporter, data_error)
    if reporter.cancel_requested:
        raise cancelled
    reporter.log_line("training finished; evaluating candidate and active landmark model")
    reporter.write(progress=TRAINING_SHARE, log_tail=reporter.log, history=reporter.history)
    _evaluate_register_and_gate(run, reporter, checkpoint, data.evaluation, cancelled)


def _evaluate(checkpoint: bytes, samples: list) -> dict[str, Any]:
    from inference.engine import LandmarkPredictor
    from training.engine import evaluate_landmark_predictor

    predictor = LandmarkPredictor.from_checkpoint(checkpoint, num_threads=getattr(settings, "TRAINING_TORCH_THREADS", None))
    return evaluate_landmark_predictor(predictor, samples)


def _active_metrics(active: ModelVersion | None, samples: list, reporter) -> dict | None:
    if active is None:
        return None
    try:
        with active.checkpoint.open("rb") as handle:
            return _evaluate(handle.read(), samples)
    except Exception as exc:  # noqa: BLE001 - an unreadable active checkpoint must not block
        logger.exception("active landmark model %s could not be evaluated", active.pk)
        reporter.log_line(f"active landmark model could not be evaluated: {exc}")
        return None


def _auto_activate() -> bool:
    return bool(getattr(settings, "TRAINING_AUTO_ACTIVATE", False))


def _evaluate_register_and_gate(run: TrainingRun, reporter, checkpoint: bytes, evaluation: list,
                                cancelled: type[Exception]) -> None:
    from training.runs.execution import _finish

    active = model_version_get_active(ModelKind.LANDMARKS)
    candidate_metrics = _evaluate(checkpoint, evaluation)
    active_metrics = _active_metrics(active, evaluation, reporter)
    decision = landmark_model_version_evaluate_gate(candidate_metrics=candidate_metrics, active_metrics=active_metrics)
    reporter.log_line(decision.summary)
    activate = decision.passed and _auto_activate()
    with transaction.atomic():
        # The row may have been abandoned meanwhile (stale heartbeat); then nothing is registered.
        if not TrainingRun.objects.select_for_update().filter(pk=run.pk, status=TrainingRunStatus.RUNNING).exists():
            raise cancelled
        version, _ = model_version_register(data=checkpoint, name=f"landmarks-run-{run.pk}-{uuid.uuid4().hex[:6]}",
                                            kind=ModelKind.LANDMARKS)
        version.training_run = run
        compared = {"id": active.pk, "name": active.name, "metrics": active_metrics} if active else None
        version.metrics = {**(version.metrics or {}), "evaluation": candidate_metrics,
                           "evaluation_n": len(evaluation), "compared_with": compared, "gate": decision.as_dict()}
        version.status_reason = decision.summary
        version._change_reason = "registered by landmark training run"
        version.save(update_fields=["training_run", "metrics", "status_reason"])
        if activate:
            model_version_activate(model_version=version, user=None,
                                   reason=f"activated by the landmark gate of training run #{run.pk}: {decision.summary}"[:500])
        reporter.log_line("activated by the gate" if activate else
                          ("passed the gate; kept as candidate for an admin to activate" if decision.passed
                           else "kept as candidate"))
        _finish(run.pk, TrainingRunStatus.SUCCEEDED, progress=1.0, log_tail=reporter.log, history=reporter.history,
                evaluation={"n": len(evaluation),
                            "candidate": {"id": version.pk, "name": version.name, "metrics": candidate_metrics},
                            "active": compared, "gate": decision.as_dict(), "promoted": activate})
