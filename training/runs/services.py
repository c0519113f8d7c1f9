"""Writes of training runs: start and cancel. Activation and rollback are the registry's
(registry.services); re-reading open cases is inference's.

The web process only creates rows and enqueues; the run itself executes in the `training`
worker (training.runs.execution).
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import ModelKind, ModelVersion
from registry.selectors import model_version_get_active
from scoliosis_portal.roles import user_is_admin
from training.models import LIVE_TRAINING_RUN_STATUSES, TrainingRun, TrainingRunStatus
from training.runs.dataset import training_data_check
from training.runs.execution import (
    TrainingDataError,
    timestamped_line,
    training_run_execute,
    trim_log_tail,
)
from training.runs.gate import GateDecision, model_version_evaluate_gate
from training.runs.hyperparameters import (
    HYPERPARAMETERS,
    hyperparameters_clean,
    landmark_hyperparameters_clean,
)

logger = logging.getLogger(__name__)


class TrainingRunConflict(Exception):
    """A second live run was refused (the database allows one queued or running run)."""


def _require_admin(user) -> None:
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may do this.")


# --- start / cancel (web process) --------------------------------------------------------------


def training_run_start(
    *,
    user,
    base_model_version: ModelVersion | None = None,
    hyperparameters: dict | None = None,
    kind: str = ModelKind.CLASSIFIER,
) -> TrainingRun:
    """Create a queued run and send its task once the row is committed. Admins only.

    `kind` is what the run trains: the classifier, or the landmark model (from the shared
    AASCE folder plus every reviewer-corrected film; refused with a ValidationError when that
    folder is missing). Raises TrainingRunConflict when another run is queued or running (the
    database decides: one live run on the training queue, whatever its kind).
    """
    _require_admin(user)
    if kind not in ModelKind.values:
        raise ValidationError({"kind": f"Must be one of: {', '.join(ModelKind.values)}."})
    base = base_model_version or model_version_get_active(kind)
    if base is not None and base.kind != kind:
        raise ValidationError({"base_model_version": f"{base.name} is a {base.kind} model, not a {kind} model."})
    clean, epochs = _clean_for_kind(kind, hyperparameters, base_available=base is not None)
    if kind == ModelKind.CLASSIFIER:
        training_data_check(required_labels=list(base.labels) if base is not None else [])
    task_id = uuid.uuid4().hex
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                started_by=user,
                kind=kind,
                base_model_version=base,
                hyperparameters=clean,
                total_epochs=epochs,
                celery_task_id=task_id,
                log_tail=timestamped_line("queued by " + user.get_username()),
            )
            transaction.on_commit(lambda: _send_task(run.pk, task_id), robust=True)
    except IntegrityError as exc:
        live = TrainingRun.objects.filter(status__in=LIVE_TRAINING_RUN_STATUSES).first()
        which = f" (run #{live.pk}, {live.status})" if live else ""
        raise TrainingRunConflict(
            f"A training run is already queued or running{which}; wait for it or cancel it."
        ) from exc
    logger.info("training run %s queued by user %s", run.pk, user.pk)
    return run


def _clean_for_kind(kind: str, hyperparameters: dict | None, *, base_available: bool) -> tuple[dict, int]:
    """Clean hyper-parameters, and the epoch count the row shows. A landmark run first checks
    its data folder, so an admin learns at once (not from a failed run) that it is missing; its
    default learning rate depends on whether there is a base version to continue."""
    if kind == ModelKind.LANDMARKS:
        from training.runs.landmark_dataset import LandmarkDataMissing, landmark_data_check

        try:
            landmark_data_check()
        except LandmarkDataMissing as exc:
            raise ValidationError(str(exc)) from exc
        clean = landmark_hyperparameters_clean(hyperparameters, base_available=base_available)
        return clean, clean["max_epochs"]
    clean = hyperparameters_clean(hyperparameters)
    return clean, clean["epochs"]


def _send_task(run_id: int, task_id: str) -> None:
    from training.tasks import training_run_execute as task

    try:
        task.apply_async(args=[run_id], task_id=task_id)
    except Exception:  # broker down: fail the row so it does not block the one-live-run slot
        logger.exception("could not send training run %s to the broker", run_id)
        TrainingRun.objects.filter(pk=run_id, status=TrainingRunStatus.QUEUED).update(
            status=TrainingRunStatus.FAILED,
            error="The task queue could not be reached; start the run again.",
            finished_at=timezone.now(),
        )


def _stale_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "TRAINING_STALE_AFTER_SECONDS", 900)))


def training_run_cancel(*, training_run: TrainingRun, user) -> TrainingRun:
    """Cancel a run. Admins only.

    1. Queued: cancelled at once (the task, when it arrives, finds nothing to claim).
    2. Running: a flag the worker reads at its next progress report; the run stops there.
    3. Running but silent for TRAINING_STALE_AFTER_SECONDS (its worker died): failed at once,
       so the one-live-run slot is freed.
    """
    _require_admin(user)
    now = timezone.now()
    note = timestamped_line(f"cancel requested by {user.get_username()}")
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=training_run.pk)
        if run.status == TrainingRunStatus.QUEUED:
            run.status = TrainingRunStatus.CANCELLED
            run.finished_at = now
        elif run.status == TrainingRunStatus.RUNNING and run.updated_at < now - _stale_after():
            run.status = TrainingRunStatus.FAILED
            run.error = "The training worker stopped reporting progress; the run was abandoned."
            run.finished_at = now
        elif run.status == TrainingRunStatus.RUNNING:
            run.cancel_requested = True
        else:
            raise ValidationError(f"The run has already finished ({run.status}).")
        run.log_tail = trim_log_tail(run.log_tail + note)
        run.save()
    return run


__all__ = [
    "HYPERPARAMETERS",
    "GateDecision",
    "TrainingDataError",
    "TrainingRunConflict",
    "hyperparameters_clean",
    "landmark_hyperparameters_clean",
    "model_version_evaluate_gate",
    "training_run_cancel",
    "training_run_execute",
    "training_run_start",
]
