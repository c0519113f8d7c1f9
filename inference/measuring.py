"""Writes of the inference app for Cobb measurements: queue them, run one, sweep stuck ones.

A measurement is the landmark model's reading of a radiograph, beside the classifier's
prediction. The upload queues both; the measurement task is chained after the prediction task
(a Celery link), so it runs once the classifier has said whether the film looked like anything
it knows, and a failed prediction never stops the measurement (the prediction task records its
failure on the row and ends normally, so the link still fires). Each part has its own row,
claim, retries and error, so one failing never loses the other.

`import torch` happens only inside `measurement_run` (through inference.runtime), in the worker.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inference.models import Measurement, Prediction, PredictionStatus
from registry.models import ModelKind, ModelVersion
from registry.selectors import model_version_get_active

logger = logging.getLogger(__name__)

# The reason stored when the classifier already found the film out of distribution (the same
# words as the landmark engine's own reason, inference.engine.NotMeasured).
OUT_OF_DISTRIBUTION = "out of distribution"


# --- queueing ---------------------------------------------------------------------------------


def measurements_create_for_radiographs(
    *, radiograph_ids: Iterable[int], model_version: ModelVersion | None = None
) -> dict[int, tuple[int, str]]:
    """Create queued Measurement rows by `model_version` (default: the active landmark model).

    Call inside the caller's transaction; nothing is sent. Returns {radiograph_id:
    (measurement_id, task_id)} for the rows created now (a radiograph already measured by that
    version gets no second row: the database enforces it). Empty without a landmark model.
    """
    version = model_version or model_version_get_active(kind=ModelKind.LANDMARKS)
    ids = sorted({int(i) for i in radiograph_ids})
    if version is None or not ids:
        return {}
    now = timezone.now()
    fresh = {rid: uuid.uuid4().hex for rid in ids}
    Measurement.objects.bulk_create(
        [
            Measurement(radiograph_id=rid, model_version=version, queued_at=now, celery_task_id=task_id)
            for rid, task_id in fresh.items()
        ],
        ignore_conflicts=True,
    )
    rows = Measurement.objects.filter(radiograph_id__in=ids, model_version=version)
    return {
        m.radiograph_id: (m.pk, m.celery_task_id)
        for m in rows
        if m.celery_task_id == fresh[m.radiograph_id]
    }


def measurement_signature(measurement_id: int, task_id: str):
    """The Celery signature of one measurement task (immutable: the prediction's return value is
    not its argument), with the task id the row records."""
    from inference.tasks import measurement_run as measurement_run_task

    return measurement_run_task.si(measurement_id).set(task_id=task_id)


def measurements_send(items: Iterable[tuple[int, str]]) -> None:
    """Send measurement tasks now (call on commit). A broker error leaves the row queued for
    the sweep."""
    for measurement_id, task_id in items:
        try:
            measurement_signature(measurement_id, task_id).apply_async()
        except Exception:
            logger.warning("could not send measurement %s; the sweep will re-queue it",
                           measurement_id, exc_info=True)


# --- running ----------------------------------------------------------------------------------


def _claim(*, measurement_id: int, task_id: str) -> bool:
    """QUEUED -> RUNNING by a conditional update (a RUNNING row with this task id is our own
    redelivered message), as for predictions."""
    claimable = Q(status=PredictionStatus.QUEUED) | Q(status=PredictionStatus.RUNNING, celery_task_id=task_id)
    return Measurement.objects.filter(claimable, pk=measurement_id).update(
        status=PredictionStatus.RUNNING,
        celery_task_id=task_id,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
    ) == 1


def measurement_fail(*, measurement_id: int, task_id: str | None, message: str) -> bool:
    """Mark a running measurement failed with a message a person can act on."""
    rows = Measurement.objects.filter(pk=measurement_id, status=PredictionStatus.RUNNING)
    if task_id is not None:
        rows = rows.filter(celery_task_id=task_id)
    return bool(rows.update(status=PredictionStatus.FAILED, error=message[:2000], finished_at=timezone.now()))


def _classifier_out_of_distribution(radiograph_id: int) -> bool:
    latest = (
        Prediction.objects.filter(radiograph_id=radiograph_id)
        .order_by("-created_at", "-id")
        .values("status", "out_of_distribution")
        .first()
    )
    return bool(latest and latest["status"] == PredictionStatus.SUCCEEDED and latest["out_of_distribution"])


def measurement_run(*, measurement_id: int, task_id: str) -> Measurement | None:
    """Measure one queued radiograph. Returns the row, or None if not ours to run.

    1. Claim the row by a conditional update; nothing changed means another delivery has it or
       it is finished (idempotent).
    2. Give up after INFERENCE_MAX_ATTEMPTS claims (a film that kills its worker each time).
    3. If the classifier's latest prediction of the film says out of distribution, the film is
       not measured, for that reason, without running the landmark model.
    4. Otherwise run the landmark model (cached per process) with the overlay; deterministic
       errors fail the row at once with a readable message.
    5. Store the overlay under a random name and write the result conditionally.
    """
    from inference.services import max_attempts

    if not _claim(measurement_id=measurement_id, task_id=task_id):
        return None
    measurement = Measurement.objects.select_related("radiograph", "model_version").get(pk=measurement_id)
    if measurement.attempts > max_attempts():
        measurement_fail(measurement_id=measurement_id, task_id=task_id,
                         message=f"Gave up after {max_attempts()} attempts: the worker was lost or "
                         "timed out each time. An admin can re-queue it.")
        return Measurement.objects.get(pk=measurement_id)
    started = time.perf_counter()
    if _classifier_out_of_distribution(measurement.radiograph_id):
        _not_measured_write(measurement, task_id, OUT_OF_DISTRIBUTION, started)
        return Measurement.objects.get(pk=measurement_id)
    outcome = _measure_timed(measurement)
    if isinstance(outcome, str):
        logger.info("measurement %s failed: %s", measurement_id, outcome)
        measurement_fail(measurement_id=measurement_id, task_id=task_id, message=outcome)
        return Measurement.objects.get(pk=measurement_id)
    result, timings = outcome
    overlay_name = ""
    if result.overlay_png:
        measurement.overlay.save("overlay.png", ContentFile(result.overlay_png), save=False)
        overlay_name = measurement.overlay.name
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    if not _result_write(measurement, task_id, result, timings, overlay_name) and overlay_name:
        measurement.overlay.storage.delete(overlay_name)  # lost the claim: no orphan file
    return Measurement.objects.get(pk=measurement_id)


def _measure_timed(measurement: Measurement):
    """(result, timings in ms) of the landmark model on the radiograph, or the failure message
    (inference.runtime.run_timed)."""
    from inference import runtime

    outcome = runtime.run_timed(
        measurement, load=runtime.landmark_predictor_for,
        call=lambda predictor, data: predictor.measure(data, overlay=True), model_name="landmark model",
        missing="The stored radiograph or landmark model file is missing.", doing="Measuring",
    )
    if isinstance(outcome, str):
        return outcome
    result, (t0, t1, _read, t3) = outcome
    timings = {k: round(v, 2) for k, v in result.timings_ms.items()}
    timings.update(load_model=round((t1 - t0) * 1000, 2), measure_total=round((t3 - t1) * 1000, 2))
    return result, timings


def _result_fields(result) -> dict:
    m = result.measurement
    if m is None:
        return {"not_measured": result.not_measured or "not measured", "ood_distance": result.ood_distance}
    return {
        "cobb_pt": round(float(m.pt), 2),
        "cobb_mt": round(float(m.mt), 2),
        "cobb_tl": round(float(m.tl), 2),
        "largest_angle": round(float(m.largest.angle), 2),
        "largest_upper": m.largest.upper,
        "largest_lower": m.largest.lower,
        "largest_apex": m.largest.apex,
        "curve_type": m.curve_type,
        "severity": m.severity,
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in result.landmarks],
        "not_measured": "",
        "ood_distance": result.ood_distance,
    }


def _result_write(measurement: Measurement, task_id: str, result, timings: dict, overlay_name: str) -> bool:
    return bool(
        Measurement.objects.filter(
            pk=measurement.pk, status=PredictionStatus.RUNNING, celery_task_id=task_id
        ).update(
            status=PredictionStatus.SUCCEEDED,
            overlay=overlay_name,
            timings_ms=timings,
            error="",
            finished_at=timezone.now(),
            **_result_fields(result),
        )
    )


def _not_measured_write(measurement: Measurement, task_id: str, reason: str, started: float) -> None:
    Measurement.objects.filter(
        pk=measurement.pk, status=PredictionStatus.RUNNING, celery_task_id=task_id
    ).update(
        status=PredictionStatus.SUCCEEDED,
        not_measured=reason,
        timings_ms={"total": round((time.perf_counter() - started) * 1000, 2)},
        error="",
        finished_at=timezone.now(),
    )


# --- the sweep --------------------------------------------------------------------------------


def measurements_requeue_stuck(*, older_than: timedelta) -> dict[str, int]:
    """Re-send measurements stuck in queued or running past `older_than` (with a fresh task id),
    or fail those that used up their attempts. Returns counts for logging."""
    from inference.services import max_attempts

    cutoff = timezone.now() - older_than
    stuck = Measurement.objects.filter(
        Q(status=PredictionStatus.QUEUED, queued_at__lt=cutoff)
        | Q(status=PredictionStatus.RUNNING, started_at__lt=cutoff)
    ).values_list("pk", "status", "celery_task_id", "attempts")
    counts = {"requeued": 0, "failed": 0}
    resend: list[tuple[int, str]] = []
    with transaction.atomic():
        for pk, status, old_task_id, attempts in list(stuck):
            rows = Measurement.objects.filter(pk=pk, status=status, celery_task_id=old_task_id)
            if attempts >= max_attempts():
                counts["failed"] += rows.update(
                    status=PredictionStatus.FAILED, finished_at=timezone.now(),
                    error=f"Gave up after {attempts} attempts: the worker was lost or timed out "
                    "each time. An admin can re-queue it.")
                continue
            new_task_id = uuid.uuid4().hex
            if rows.update(status=PredictionStatus.QUEUED, celery_task_id=new_task_id, queued_at=timezone.now()):
                resend.append((pk, new_task_id))
        counts["requeued"] = len(resend)
        transaction.on_commit(lambda: measurements_send(resend), robust=True)
    return counts
