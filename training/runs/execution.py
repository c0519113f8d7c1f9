"""Execution of a training run in the `training` worker (called by training.tasks).

`import torch` happens only inside these functions, never in the web process.
"""
from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from registry.models import ModelKind, ModelVersion
from registry.risks import model_version_activation_risks
from registry.selectors import model_version_get_active
from registry.services import model_version_activate, model_version_register
from training.models import TrainingRun, TrainingRunStatus
from training.runs.gate import model_version_evaluate_gate
from training.runs.hyperparameters import hyperparameters_clean

logger = logging.getLogger(__name__)
LOG_TAIL_LINES = 40


class TrainingDataError(Exception):
    """The data cannot make a model (too few classes, empty evaluation set); a person can act."""


class TrainingRunCancelled(Exception):
    pass


def timestamped_line(text: str) -> str:
    return f"{timezone.now():%Y-%m-%d %H:%M:%S} {text}\n"


def trim_log_tail(text: str) -> str:
    return "".join(text.splitlines(keepends=True)[-LOG_TAIL_LINES:])


class _ProgressReporter:
    """The engine's progress callback: writes the row at most every few seconds (and at every
    epoch end) and reads the cancel flag in the same round trip. `should_stop` only returns
    the last flag read, so the training loop itself never queries the database."""

    def __init__(self, run: TrainingRun, training_share: float = 0.85):
        self.run_id = run.pk
        self.log = run.log_tail
        self.share = training_share
        self.every = float(getattr(settings, "TRAINING_PROGRESS_EVERY_SECONDS", 2.0))
        self.last_write = 0.0
        self.cancel_requested = False
        self.history: list[dict] = []

    def log_line(self, text: str) -> None:
        self.log = trim_log_tail(self.log + timestamped_line(text))

    def __call__(self, info: dict) -> None:
        end_of_epoch = bool(info.get("end_of_epoch"))
        if end_of_epoch:
            record = {k: v for k, v in info.items() if isinstance(v, int | float) and k != "end_of_epoch"}
            self.history.append(record)
            val = f" val macro-F1 {info['val_macro_f1']:.3f}" if "val_macro_f1" in info else ""
            self.log_line(f"epoch {info['epoch']}/{info.get('epochs')} loss {info['loss']:.4f}{val}")
        now = time.monotonic()
        if not end_of_epoch and now - self.last_write < self.every:
            return
        self.last_write = now
        total = max(int(info.get("total_steps") or 1), 1)
        fields = {
            "progress": min(1.0, self.share * int(info.get("step", 0)) / total),
            "epoch": int(info.get("epoch", 0)),
            "metrics": {k: v for k, v in info.items() if isinstance(v, int | float) and k != "end_of_epoch"},
            "log_tail": self.log,
            "history": self.history,
        }
        self.write(**fields)

    def write(self, **fields: Any) -> None:
        TrainingRun.objects.filter(pk=self.run_id).update(**fields, updated_at=timezone.now())
        self.cancel_requested = bool(
            TrainingRun.objects.filter(pk=self.run_id).values_list("cancel_requested", flat=True).first()
        )

    def should_stop(self) -> bool:
        return self.cancel_requested


def _claim(*, training_run_id: int, task_id: str) -> bool:
    return bool(
        TrainingRun.objects.filter(
            pk=training_run_id, status=TrainingRunStatus.QUEUED, cancel_requested=False
        ).update(
            status=TrainingRunStatus.RUNNING,
            started_at=timezone.now(),
            celery_task_id=task_id,
            updated_at=timezone.now(),
        )
    )


def _finish(run_id: int, status: str, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id, status=TrainingRunStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), updated_at=timezone.now(), **fields
    )


def training_run_execute(*, training_run_id: int, task_id: str) -> TrainingRun | None:
    """Run one claimed training run to its end. Called by the task in the `training` worker.

    1. claim the row QUEUED -> RUNNING (a duplicate or late message claims nothing);
    2. collect samples (base folder + confirmed radiographs; for a landmark run the AASCE
       folder + reviewer-corrected films, training.runs.landmark_execution) before the loop starts;
    3. train with throttled progress writes and a cancel flag read in the callback;
    4. evaluate candidate and active model on the same evaluation set;
    5. register the candidate, apply the gate, activate it only if it passed.
    A failure anywhere records its message on the row; the active model is never touched
    before step 5, which is one transaction.
    """
    if not _claim(training_run_id=training_run_id, task_id=task_id):
        logger.info("training run %s not claimable (task %s); nothing to do", training_run_id, task_id)
        return TrainingRun.objects.filter(pk=training_run_id).first()
    run = TrainingRun.objects.get(pk=training_run_id)
    reporter = _ProgressReporter(run)
    try:
        _execute(run, reporter)
    except TrainingRunCancelled:
        reporter.log_line("cancelled")
        _finish(run.pk, TrainingRunStatus.CANCELLED, log_tail=reporter.log)
    except Exception as exc:  # noqa: BLE001 - every failure must land on the row, readable
        from celery.exceptions import SoftTimeLimitExceeded

        if isinstance(exc, SoftTimeLimitExceeded):
            message = "The run exceeded its time limit (TRAINING_TASK_SOFT_TIME_LIMIT)."
        elif isinstance(exc, TrainingDataError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
            logger.exception("training run %s failed", run.pk)
        reporter.log_line(f"failed: {message}")
        _finish(run.pk, TrainingRunStatus.FAILED, error=message[:4000], log_tail=reporter.log)
    return TrainingRun.objects.get(pk=run.pk)


def _split_validation(train: list, fraction: float, seed: int) -> tuple[list, list]:
    from training.engine import grouped_holdout

    if fraction <= 0:
        return train, []
    try:
        return grouped_holdout(train, fraction, seed)
    except ValueError:  # too few patients per class for a stratified grouped split
        return train, []


def _require_validation(train: list, val: list, fraction: float) -> None:
    """No held-out films, no run: the temperature and the OOD threshold are fitted on them, and
    a model calibrated on nothing must not reach the registry."""
    missing = sorted({s.label for s in train} - {s.label for s in val})
    if not val or missing:
        which = f" (none for {', '.join(missing)})" if val else ""
        raise TrainingDataError(
            f"No validation films{which}: the hold-out of {fraction:.0%} of the training patients "
            "per class came out empty. Raise the run's validation_fraction or add films "
            "(TRAINING_BASE_DATA_DIR, TRAINING_MIN_FILMS_PER_CLASS)."
        )


def _initial_weights(hp: dict[str, Any], run: TrainingRun, reporter: _ProgressReporter) -> bytes | None:
    """The base version's checkpoint to fine-tune, or None to start from ImageNet (asked for, or
    no base version to start from). Used by both kinds of run (training.runs.landmark_execution)."""
    base = run.base_model_version
    if hp["start_from"] != "base" or base is None:
        fallback = " (no base model version to start from)" if hp["start_from"] == "base" else ""
        reporter.log_line(f"starting from ImageNet weights{fallback}")
        return None
    try:
        data = _read_checkpoint(base)
    except (OSError, ValueError) as exc:
        raise TrainingDataError(
            f"The base model {base.name} (#{base.pk}) could not be read from storage ({exc}); "
            "choose another base or start from ImageNet."
        ) from exc
    if hashlib.sha256(data).hexdigest() != base.sha256:
        raise TrainingDataError(
            f"The stored checkpoint of base model {base.name} (#{base.pk}) is not the registered "
            "one; choose another base or start from ImageNet."
        )
    reporter.log_line(f"fine-tuning base model {base.name} (#{base.pk})")
    return data


def _train_config(hp: dict[str, Any], labels: list[str], run: TrainingRun, init_from: bytes | None = None):
    from training.engine import TrainConfig

    threads = getattr(settings, "TRAINING_TORCH_THREADS", None)
    return TrainConfig(
        init_from=init_from,
        outlier_exposure=hp["outlier_exposure"],
        epochs=hp["epochs"],
        batch_size=hp["batch_size"],
        lr=hp["learning_rate"],
        input_size=hp["input_size"],
        seed=hp["seed"],
        validation_fraction=hp["validation_fraction"],
        labels=labels,
        num_threads=int(threads) if threads else None,
        pretrained=bool(getattr(settings, "TRAINING_PRETRAINED", True)),
        extra_metadata={"name": f"run-{run.pk}", "training_run_id": run.pk},
    )


def _execute(run: TrainingRun, reporter: _ProgressReporter) -> None:
    from training.engine import train_model

    if run.kind == ModelKind.LANDMARKS:
        from training.runs.landmark_execution import landmark_run_execute

        landmark_run_execute(run, reporter, cancelled=TrainingRunCancelled, data_error=TrainingDataError)
        return
    from training.runs.dataset import training_data_collect, training_data_problems

    hp = hyperparameters_clean(run.hyperparameters)
    data = training_data_collect()
    labels = sorted({s.label for s in data.train})
    if len(labels) < 2:
        raise TrainingDataError(
            f"Training needs at least two classes; found {labels or 'none'} "
            f"(base data folder: {data.counts['base_dir']})."
        )
    # The data may have changed since the run was accepted: the same check again, on what is here.
    problems = training_data_problems(
        base_counts=data.base_per_class, confirmed_counts=data.confirmed_per_class,
        base_dir=data.counts["base_dir"],
        required_labels=list(run.base_model_version.labels) if run.base_model_version else [],
    )
    if problems:
        raise TrainingDataError(" ".join(problems))
    evaluation = [s for s in data.evaluation if s.label in labels]
    if not evaluation:
        raise TrainingDataError("The evaluation set is empty; nothing to compare models on.")
    train, val = _split_validation(data.train, hp["validation_fraction"], hp["seed"])
    _require_validation(train, val, hp["validation_fraction"])
    reporter.log_line(
        f"{len(train)} training, {len(val)} validation, {len(evaluation)} evaluation images; "
        f"classes {', '.join(labels)}"
    )
    reporter.write(dataset={**data.counts, "validation": len(val), "labels": labels}, log_tail=reporter.log)
    if reporter.cancel_requested:
        raise TrainingRunCancelled

    init_from = _initial_weights(hp, run, reporter)
    buffer = io.BytesIO()
    result = train_model(
        train, val or None, _train_config(hp, labels, run, init_from),
        progress=reporter, should_stop=reporter.should_stop, checkpoint=buffer,
    )
    if result.cancelled:
        raise TrainingRunCancelled
    reporter.log_line("training finished; evaluating candidate and active model")
    reporter.write(progress=0.9, log_tail=reporter.log, history=reporter.history)
    _evaluate_register_and_gate(run, reporter, buffer.getvalue(), evaluation, result.metrics)


def _evaluate(checkpoint: bytes, samples: list, labels: list[str]) -> tuple[dict, dict[str, bytes]]:
    """Metrics and plot PNGs of one checkpoint on the evaluation samples it knows the labels of."""
    from inference.engine import Predictor
    from training.engine import evaluate_checkpoint

    known = [s for s in samples if s.label in labels]
    predictor = Predictor.from_checkpoint(checkpoint, num_threads=getattr(settings, "TRAINING_TORCH_THREADS", None))
    with tempfile.TemporaryDirectory() as out:
        metrics = evaluate_checkpoint(
            predictor, known, out_dir=out, n_boot=int(getattr(settings, "TRAINING_EVALUATION_BOOTSTRAP", 200))
        )
        plots = {p.stem: p.read_bytes() for p in Path(out).glob("*.png")}
    return _json_safe(metrics), plots


def _json_safe(value: Any) -> Any:
    """NaN (a class absent from a resample) is not JSON; store it as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _read_checkpoint(version: ModelVersion) -> bytes:
    with version.checkpoint.open("rb") as handle:
        return handle.read()


def _store_plots(sha256: str, plots: dict[str, bytes]) -> dict[str, str]:
    return {
        name: default_storage.save(f"model-plots/{sha256[:16]}/{name}-{uuid.uuid4().hex[:8]}.png", ContentFile(data))
        for name, data in plots.items()
    }


def _auto_activate(run: TrainingRun, version: ModelVersion, decision, reporter: _ProgressReporter) -> bool:
    """Activate the candidate only when TRAINING_AUTO_ACTIVATE is on, it passed the gate, and
    the registry sees nothing that would get worse (registry.risks); else an admin decides."""
    if not decision.passed:
        reporter.log_line("kept as candidate: it did not pass the gate")
        return False
    if not getattr(settings, "TRAINING_AUTO_ACTIVATE", False):
        reporter.log_line("kept as candidate: automatic activation is off (TRAINING_AUTO_ACTIVATE)")
        return False
    review = model_version_activation_risks(candidate=version, active=model_version_get_active())
    if review.needs_override:
        reporter.log_line("kept as candidate: " + "; ".join(r.message for r in review.risks))
        return False
    model_version_activate(
        model_version=version,
        user=None,
        reason=f"activated by the promotion gate of training run #{run.pk}: {decision.summary}"[:500],
    )
    reporter.log_line("activated by the gate")
    return True


def _evaluate_register_and_gate(
    run: TrainingRun, reporter: _ProgressReporter, checkpoint: bytes, evaluation: list, train_metrics: dict
) -> None:
    from inference.engine import load_checkpoint

    labels = list(load_checkpoint(checkpoint).metadata["labels"])
    active = model_version_get_active()
    # Compare on the same images: those whose label both models know.
    common = [s for s in evaluation if active is None or s.label in active.labels]
    candidate_metrics, plots = _evaluate(checkpoint, common, labels)
    active_metrics = None
    if active is not None:
        try:
            active_metrics, _ = _evaluate(_read_checkpoint(active), common, list(active.labels))
        except Exception as exc:  # noqa: BLE001 - an unreadable active checkpoint must not block
            logger.exception("active model %s could not be evaluated", active.pk)
            reporter.log_line(f"active model could not be evaluated: {exc}")
    decision = model_version_evaluate_gate(
        candidate_metrics=candidate_metrics, active_metrics=active_metrics, labels=labels
    )
    reporter.log_line(decision.summary)
    with transaction.atomic():
        # The row may have been abandoned meanwhile (stale heartbeat); then nothing is registered.
        if not TrainingRun.objects.select_for_update().filter(pk=run.pk, status=TrainingRunStatus.RUNNING).exists():
            raise TrainingRunCancelled
        version, _ = model_version_register(data=checkpoint, name=f"run-{run.pk}-{uuid.uuid4().hex[:6]}")
        version.training_run = run
        version.metrics = {
            **(version.metrics or {}),
            "evaluation": candidate_metrics,
            "evaluation_plots": _store_plots(version.sha256, plots),
            "evaluation_n": len(common),
            "compared_with": {"id": active.pk, "name": active.name, "metrics": active_metrics} if active else None,
            "train": _json_safe(train_metrics.get("train", {})),
            "val": _json_safe(train_metrics.get("val", {})),
            # Read by registry.risks: a candidate that failed the gate needs an override.
            "gate": decision.as_dict(),
        }
        version.status_reason = decision.summary
        version._change_reason = "registered by training run"
        version.save(update_fields=["training_run", "metrics", "status_reason"])
        promoted = _auto_activate(run, version, decision, reporter)
        evaluation_record = {
            "n": len(common),
            "candidate": {"id": version.pk, "name": version.name, "metrics": candidate_metrics},
            "active": {"id": active.pk, "name": active.name, "metrics": active_metrics} if active else None,
            "gate": decision.as_dict(),
            "promoted": promoted,
        }
        _finish(
            run.pk, TrainingRunStatus.SUCCEEDED,
            progress=1.0, evaluation=evaluation_record, log_tail=reporter.log, history=reporter.history,
        )
