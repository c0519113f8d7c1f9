"""Celery tasks of the training app. Routed to the `training` queue (CELERY_TASK_ROUTES), so a
long run never holds up inference or the web; a GPU machine may consume that queue alone."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training.runs import execution

SOFT_TIME_LIMIT = int(getattr(settings, "TRAINING_TASK_SOFT_TIME_LIMIT", 3300))
TIME_LIMIT = int(getattr(settings, "TRAINING_TASK_TIME_LIMIT", 3600))


# Not acks_late: a redelivered message would find the row RUNNING and claim nothing; a run whose
# worker died is recognised by its stale heartbeat instead (training_run_cancel frees the slot).
@shared_task(
    bind=True,
    name="training.tasks.training_run_execute",
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    ignore_result=True,
)
def training_run_execute(self, training_run_id: int) -> str | None:
    run = execution.training_run_execute(training_run_id=training_run_id, task_id=self.request.id)
    return run.status if run else None
