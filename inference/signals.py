"""Receivers only: an upload queues the model's read (cases.hooks.radiographs_uploaded; the work
is in inference.services), stored files follow their rows (the work is in cases.services), and
an inference worker warms its model up when it starts (the work is in inference.runtime)."""
from __future__ import annotations

import threading

from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver

from cases.hooks import radiographs_uploaded
from cases.services import stored_files_delete_on_commit
from inference.models import Measurement, Prediction


@receiver(radiographs_uploaded, dispatch_uid="inference-queue-uploaded-radiographs")
def uploaded_radiographs_queue(sender, radiograph_ids: list[int], **kwargs) -> None:
    from inference.services import predictions_enqueue_for_radiographs

    predictions_enqueue_for_radiographs(radiograph_ids=radiograph_ids, measure=True)


@receiver(post_delete, sender=Prediction, dispatch_uid="inference-prediction-files")
def prediction_files_delete(sender, instance: Prediction, **kwargs) -> None:
    stored_files_delete_on_commit(names=[instance.gradcam.name])


@receiver(post_delete, sender=Measurement, dispatch_uid="inference-measurement-files")
def measurement_files_delete(sender, instance: Measurement, **kwargs) -> None:
    stored_files_delete_on_commit(names=[instance.overlay.name])


def consumes_inference_queue(app) -> bool:
    """Whether this worker takes prediction tasks (a `-Q training` worker does not)."""
    selected = app.amqp.queues.consume_from  # the -Q selection; empty means every queue
    return not selected or settings.CELERY_TASK_DEFAULT_QUEUE in selected


def _warm_up() -> None:
    from django.db import connections

    from inference import runtime

    try:
        runtime.warm_up()
    finally:
        connections.close_all()  # this thread's own connection, which nothing else would close


def _warm_up_in_background() -> None:
    # A thread, so that neither the consumer's start nor a prefork child's start-up handshake
    # (which has a timeout of a few seconds) waits for torch; a task that arrives meanwhile
    # waits on the runtime's lock for the same model instead of loading a second copy.
    threading.Thread(target=_warm_up, name="inference-warm-up", daemon=True).start()


def _warm_up_wanted(app) -> bool:
    return settings.INFERENCE_WORKER_WARM_UP and consumes_inference_queue(app)


@worker_ready.connect(dispatch_uid="inference-warm-up-worker")
def worker_warm_up(sender=None, **kwargs) -> None:
    """solo and threads pools run tasks in the worker process itself: warm it."""
    if sender is None or "prefork" in type(sender.pool).__module__:
        return  # prefork: the children warm themselves (below); the parent never predicts
    if _warm_up_wanted(sender.app):
        _warm_up_in_background()


@worker_process_init.connect(dispatch_uid="inference-warm-up-child")
def worker_child_warm_up(**kwargs) -> None:
    """Each prefork child holds its own model."""
    from celery import current_app

    if _warm_up_wanted(current_app):
        _warm_up_in_background()
