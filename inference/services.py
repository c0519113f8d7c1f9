"""Writes of the inference app: queue predictions, run one, sweep stuck ones. A case's status
is the cases app's (cases.services.case_status_refresh); this app tells it when to look.

`import torch` happens only inside `prediction_run` (through inference.runtime), i.e. in the
worker, never in the web request path.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from cases.models import CaseStatus, Radiograph
from cases.services import case_status_refresh
from inference.measuring import (
    measurements_create_for_radiographs,
    measurements_requeue_stuck,
    measurements_send,
)
from inference.models import Prediction, PredictionStatus
from registry.models import ModelKind, ModelVersion
from registry.selectors import model_version_get_active
from scoliosis_portal.roles import user_is_admin

logger = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("INFERENCE_MAX_ATTEMPTS", 5))


def stuck_after() -> timedelta:
    return timedelta(seconds=int(_setting("INFERENCE_STUCK_AFTER_SECONDS", 600)))


# --- queueing ---------------------------------------------------------------------------------


def predictions_enqueue_for_radiographs(
    *, radiograph_ids: Iterable[int], model_version: ModelVersion | None = None, measure: bool = False
) -> list[Prediction]:
    """Create the queued Prediction rows for `model_version` (default: the active one) and send
    their tasks once the transaction commits.

    Idempotent: a radiograph that already has a prediction by that version gets no second one
    (the database enforces it) and no second task. Returns the predictions of those radiographs
    by that version, new or old. With no active model it returns [] and the radiographs wait.

    `measure` (an upload): also queue the Cobb measurement by the active landmark model; its
    task is chained after the prediction's (or sent alone when no new prediction is queued).
    """
    ids = sorted({int(i) for i in radiograph_ids})
    version = model_version or model_version_get_active()
    if version is not None and version.kind != ModelKind.CLASSIFIER:
        raise ValueError(f"model version {version.pk} is a {version.kind} model, not a classifier")
    if version is None:
        logger.warning("no active model version; %d radiograph(s) wait for one", len(ids))
        with transaction.atomic():
            case_ids = Radiograph.objects.filter(pk__in=ids).values_list("case_id", flat=True)
            for case_id in sorted(set(case_ids)):
                case_status_refresh(case_id=case_id)
            alone = measurements_create_for_radiographs(radiograph_ids=ids) if measure else {}
            transaction.on_commit(lambda: measurements_send(alone.values()), robust=True)
        return []
    with transaction.atomic():
        existing = list(Radiograph.objects.filter(pk__in=ids).values_list("pk", "case_id"))
        now = timezone.now()
        fresh = {rid: uuid.uuid4().hex for rid, _ in existing}
        Prediction.objects.bulk_create(
            [
                Prediction(
                    radiograph_id=rid,
                    model_version=version,
                    status=PredictionStatus.QUEUED,
                    queued_at=now,
                    celery_task_id=task_id,
                )
                for rid, task_id in fresh.items()
            ],
            ignore_conflicts=True,
        )
        predictions = list(
            Prediction.objects.filter(radiograph_id__in=fresh, model_version=version)
        )
        # Rows that already existed keep their own task id, so only the new ones are sent.
        new = [p for p in predictions if p.celery_task_id == fresh.get(p.radiograph_id)]
        to_send = [(p.pk, p.celery_task_id) for p in new]
        measurements = measurements_create_for_radiographs(radiograph_ids=ids) if measure else {}
        links = {p.pk: measurements.pop(p.radiograph_id) for p in new if p.radiograph_id in measurements}
        alone = list(measurements.values())
        for case_id in sorted({case_id for _, case_id in existing}):
            case_status_refresh(case_id=case_id)
        transaction.on_commit(lambda: _send_tasks(to_send, links=links), robust=True)
        transaction.on_commit(lambda: measurements_send(alone), robust=True)
    return predictions


def model_version_reread_open_cases(*, model_version: ModelVersion, user) -> int:
    """Queue predictions by `model_version` for every radiograph of a case not yet reviewed.
    Admins only. New predictions sit beside the old ones (one per radiograph and version, never
    overwritten). Returns how many radiographs were queued."""
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may re-read open cases.")
    ids = list(
        Radiograph.objects.exclude(case__status=CaseStatus.REVIEWED).values_list("pk", flat=True)
    )
    if ids and model_version.kind == ModelKind.LANDMARKS:
        # A landmark model re-measures; the classifier's answers stay as they are.
        with transaction.atomic():
            created = measurements_create_for_radiographs(radiograph_ids=ids, model_version=model_version)
            transaction.on_commit(lambda: measurements_send(created.values()), robust=True)
    elif ids:
        predictions_enqueue_for_radiographs(radiograph_ids=ids, model_version=model_version)
    return len(ids)


def _send_tasks(items: list[tuple[int, str]], links: dict[int, tuple[int, str]] | None = None) -> None:
    """Send prediction tasks; `links` chains a measurement task after a prediction's (by id)."""
    from inference.measuring import measurement_signature
    from inference.tasks import prediction_run as prediction_run_task

    for prediction_id, task_id in items:
        then = (links or {}).get(prediction_id)
        try:
            prediction_run_task.apply_async(
                args=[prediction_id], task_id=task_id,
                link=measurement_signature(*then) if then else None,
            )
        except Exception:  # broker down: the row stays queued and the sweep re-sends it
            logger.warning(
                "could not send prediction %s to the broker; the sweep will re-queue it",
                prediction_id,
                exc_info=True,
            )


# --- running ----------------------------------------------------------------------------------


def _claim(*, prediction_id: int, task_id: str) -> bool:
    """QUEUED -> RUNNING by a conditional update; a RUNNING row with this same task id is a
    redelivery of our own message (the worker that held it died), so it is claimed again."""
    claimable = Q(status=PredictionStatus.QUEUED) | Q(
        status=PredictionStatus.RUNNING, celery_task_id=task_id
    )
    changed = (
        Prediction.objects.filter(claimable, pk=prediction_id)
        .update(
            status=PredictionStatus.RUNNING,
            celery_task_id=task_id,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
            error="",
        )
    )
    return changed == 1


def prediction_fail(*, prediction_id: int, task_id: str | None, message: str) -> bool:
    """Mark a running prediction failed with a message a person can act on."""
    rows = Prediction.objects.filter(pk=prediction_id, status=PredictionStatus.RUNNING)
    if task_id is not None:
        rows = rows.filter(celery_task_id=task_id)
    with transaction.atomic():
        changed = rows.update(
            status=PredictionStatus.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        if changed:
            case_id = Radiograph.objects.filter(predictions__pk=prediction_id).values_list(
                "case_id", flat=True
            ).first()
            if case_id is not None:
                case_status_refresh(case_id=case_id)
    return bool(changed)


def prediction_run(*, prediction_id: int, task_id: str) -> Prediction | None:
    """Run the model on one queued prediction. Returns the row, or None if not ours to run.

    1. Claim the row by a conditional update (see `_claim`); if nothing changed, another
       delivery has it or it is finished: do nothing (this is what makes the task idempotent).
    2. Give up, failing the row, after INFERENCE_MAX_ATTEMPTS claims (a poison image that kills
       its worker each time must not loop forever).
    3. Load the model version's Predictor (cached per process) and the radiograph's bytes, and
       predict with Grad-CAM, timing each step (`_predict_timed`); deterministic errors
       (unreadable image, bad checkpoint, missing file, time limit) fail the row at once with a
       readable message.
    4. Store the overlay under a random name (`_gradcam_store`) and write the result, again
       conditionally (`_result_write`), so a run that lost its claim never overwrites another;
       the case's status is then refreshed by the cases app.

    Transient errors (database, storage, broker) propagate so that the task retries.
    """
    if not _claim(prediction_id=prediction_id, task_id=task_id):
        return None
    prediction = Prediction.objects.select_related("radiograph", "model_version").get(
        pk=prediction_id
    )
    if prediction.attempts > max_attempts():
        prediction_fail(
            prediction_id=prediction_id,
            task_id=task_id,
            message=f"Gave up after {max_attempts()} attempts: the worker was lost or timed out "
            "each time. An admin can re-queue it.",
        )
        return _reload(prediction_id)

    started = time.perf_counter()
    outcome = _predict_timed(prediction)
    if isinstance(outcome, str):
        return _fail_and_reload(prediction_id, task_id, outcome)
    result, timings = outcome
    gradcam_name = _gradcam_store(prediction, result.overlay_png)
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    if not _result_write(prediction, task_id, result, timings, gradcam_name) and gradcam_name:
        # We lost the claim (the sweep re-queued us and another run took over): no orphan file.
        prediction.gradcam.storage.delete(gradcam_name)
    return _reload(prediction_id)


def _predict_timed(prediction: Prediction):
    """(result, timings in ms) of the model on the radiograph, or the message to fail the row
    with when the error is deterministic (inference.runtime.run_timed)."""
    from inference import runtime

    outcome = runtime.run_timed(
        prediction, load=runtime.predictor_for, call=lambda predictor, data: predictor.predict(data, gradcam=True),
        model_name="model", missing="The stored radiograph file is missing; upload it again.", doing="Reading",
    )
    if isinstance(outcome, str):
        return outcome
    result, clock = outcome
    return result, _timings(prediction, result.timings_ms, *clock)


def _timings(prediction: Prediction, engine_ms: dict, t0: float, t1: float, t2: float, t3: float) -> dict:
    timings = {
        **{k: round(v, 2) for k, v in engine_ms.items()},
        "load_model": round((t1 - t0) * 1000, 2),
        "read_image": round((t2 - t1) * 1000, 2),
        "predict_total": round((t3 - t2) * 1000, 2),
    }
    if prediction.queued_at and prediction.started_at:
        timings["queue_wait"] = round(
            (prediction.started_at - prediction.queued_at).total_seconds() * 1000, 2
        )
    return timings


def _gradcam_store(prediction: Prediction, overlay_png: bytes | None) -> str:
    """Store the heat-map overlay under a random name; returns its storage name ("" if none)."""
    if not overlay_png:
        return ""
    prediction.gradcam.save("gradcam.png", ContentFile(overlay_png), save=False)
    return prediction.gradcam.name


def _result_write(prediction: Prediction, task_id: str, result, timings: dict, gradcam_name: str) -> bool:
    """Write the result only if this run still holds the claim; then refresh the case status.
    Returns whether it was written."""
    with transaction.atomic():
        changed = Prediction.objects.filter(
            pk=prediction.pk, status=PredictionStatus.RUNNING, celery_task_id=task_id
        ).update(
            status=PredictionStatus.SUCCEEDED,
            label=result.label,
            probabilities={k: float(v) for k, v in result.probabilities.items()},
            confidence=float(result.confidence),
            ood_score=float(result.ood_score),
            out_of_distribution=bool(result.out_of_distribution),
            gradcam=gradcam_name,
            timings_ms=timings,
            error="",
            finished_at=timezone.now(),
        )
        if changed:
            case_status_refresh(case_id=prediction.radiograph.case_id)
    return bool(changed)


def _reload(prediction_id: int) -> Prediction:
    return Prediction.objects.get(pk=prediction_id)


def _fail_and_reload(prediction_id: int, task_id: str, message: str) -> Prediction:
    logger.info("prediction %s failed: %s", prediction_id, message)
    prediction_fail(prediction_id=prediction_id, task_id=task_id, message=message)
    return _reload(prediction_id)


# --- the sweep --------------------------------------------------------------------------------


def predictions_requeue(
    *, seen: Iterable[tuple[int, str, str]], reset_attempts: bool = False
) -> list[tuple[int, str]]:
    """Put predictions back in the queue with a fresh task id and send their tasks on commit.

    `seen` holds (id, status, celery_task_id) as the caller read them: a row is re-queued only
    if it is still so (a run that finished or was re-queued meanwhile is left alone).
    `reset_attempts` (an admin's decision) gives a row its attempts back. Used by the sweep and
    by the admin's "re-queue" action. Returns (id, new task id) of the rows re-queued.
    """
    requeued: list[tuple[int, str]] = []
    with transaction.atomic():
        for pk, status, old_task_id in seen:
            new_task_id = uuid.uuid4().hex
            changes = {"status": PredictionStatus.QUEUED, "celery_task_id": new_task_id,
                       "queued_at": timezone.now()}
            if reset_attempts:
                changes.update(attempts=0, error="")
            if Prediction.objects.filter(pk=pk, status=status, celery_task_id=old_task_id).update(**changes):
                requeued.append((pk, new_task_id))
        transaction.on_commit(lambda: _send_tasks(requeued), robust=True)
    return requeued


def predictions_requeue_stuck(*, older_than: timedelta | None = None) -> dict[str, int]:
    """Re-send predictions stuck in queued or running past a limit, and queue radiographs that
    never got a prediction (e.g. the process died between the upload's commit and its hook).

    The limit must exceed the task's hard time limit so a live run is never re-queued. A row
    that has used up its attempts is failed instead. Returns counts for logging.
    """
    limit = older_than if older_than is not None else stuck_after()
    cutoff = timezone.now() - limit
    counts = {"requeued": 0, "failed": 0, "created": 0}
    stuck = list(
        Prediction.objects.filter(
            Q(status=PredictionStatus.QUEUED, queued_at__lt=cutoff)
            | Q(status=PredictionStatus.RUNNING, started_at__lt=cutoff)
        ).values_list("pk", "status", "celery_task_id", "attempts")
    )
    retry = [(pk, status, task_id) for pk, status, task_id, attempts in stuck if attempts < max_attempts()]
    for pk, status, old_task_id, attempts in stuck:
        if attempts >= max_attempts():
            counts["failed"] += Prediction.objects.filter(
                pk=pk, status=status, celery_task_id=old_task_id
            ).update(
                status=PredictionStatus.FAILED,
                finished_at=timezone.now(),
                error=f"Gave up after {attempts} attempts: the worker was lost or timed "
                "out each time. An admin can re-queue it.",
            )
    counts["requeued"] = len(predictions_requeue(seen=retry))

    orphans = list(
        Radiograph.objects.filter(uploaded_at__lt=cutoff)
        .filter(~Exists(Prediction.objects.filter(radiograph=OuterRef("pk"))))
        .values_list("pk", flat=True)[:500]
    )
    if orphans:
        counts["created"] = len(predictions_enqueue_for_radiographs(radiograph_ids=orphans))
    counts.update({f"measurements_{k}": v for k, v in measurements_requeue_stuck(older_than=limit).items()})
    if any(counts.values()):
        logger.warning("prediction sweep: %s", counts)
    return counts
