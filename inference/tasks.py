"""Celery tasks of the inference app: thin wrappers that take ids and call services."""
from __future__ import annotations

import logging
import random
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from inference import services

logger = logging.getLogger(__name__)

# Database, storage and broker hiccups: worth another try. Everything deterministic is handled
# (and the row failed) inside the service.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, ConnectionError, TimeoutError)

SOFT_TIME_LIMIT = int(getattr(settings, "INFERENCE_TASK_SOFT_TIME_LIMIT", 60))
HARD_TIME_LIMIT = int(getattr(settings, "INFERENCE_TASK_TIME_LIMIT", 90))
MAX_RETRIES = int(getattr(settings, "INFERENCE_TASK_MAX_RETRIES", 5))


def _backoff(retries: int) -> float:
    # 2, 4, 8, ... seconds, capped, with jitter so that a recovering database is not stampeded.
    return min(2 ** (retries + 1), 120) * random.uniform(0.75, 1.25)


def _run_or_fail(task, what: str, row_id: int, *, run, fail, doing: str) -> None:
    """The policy every model task shares: transient errors (database, broker) retry with
    backoff and are left to the sweep once retries run out; anything else is a bug, not the
    image, and fails the row with something readable rather than looping. `run(task_id=...)`
    and `fail(task_id=..., message=...)` are the row's services."""
    task_id = task.request.id or ""
    try:
        run(task_id=task_id)
    except TRANSIENT_ERRORS as exc:
        if task.request.retries >= task.max_retries:
            logger.error("%s %s: transient errors persisted; the sweep will re-queue it", what, row_id)
            raise
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc
    except Exception as exc:
        logger.exception("%s %s failed unexpectedly", what, row_id)
        fail(task_id=task_id, message=f"Unexpected error while {doing} the radiograph ({type(exc).__name__}). "
             "An admin can re-queue it.")


# A model task is acked late and re-delivered if its worker is lost: the row's claim makes a
# second delivery harmless, and the attempts on the row stop a film that kills every worker.
MODEL_TASK_OPTIONS = dict(
    bind=True, acks_late=True, reject_on_worker_lost=True, soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=HARD_TIME_LIMIT, max_retries=MAX_RETRIES, ignore_result=True,
)


@shared_task(**MODEL_TASK_OPTIONS)
def prediction_run(self, prediction_id: int) -> None:
    """Run the model on one prediction row. Safe to deliver twice (the row is claimed)."""
    _run_or_fail(self, "prediction", prediction_id, doing="reading",
                 run=partial(services.prediction_run, prediction_id=prediction_id),
                 fail=partial(services.prediction_fail, prediction_id=prediction_id))


@shared_task(**MODEL_TASK_OPTIONS)
def measurement_run(self, measurement_id: int) -> None:
    """Measure the Cobb angles of one radiograph (chained after its prediction task). Safe to
    deliver twice (the row is claimed)."""
    from inference import measuring

    _run_or_fail(self, "measurement", measurement_id, doing="measuring",
                 run=partial(measuring.measurement_run, measurement_id=measurement_id),
                 fail=partial(measuring.measurement_fail, measurement_id=measurement_id))


@shared_task(bind=True, acks_late=True, soft_time_limit=120, time_limit=180, ignore_result=True)
def predictions_sweep(self) -> dict[str, int]:
    """Periodic (beat): re-queue predictions stuck in queued/running; queue forgotten uploads."""
    return services.predictions_requeue_stuck()
