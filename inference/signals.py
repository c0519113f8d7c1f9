"""Stored files follow their rows: receivers only; the work is in cases.services."""
from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from cases.services import stored_files_delete_on_commit
from inference.models import Prediction


@receiver(post_delete, sender=Prediction, dispatch_uid="inference-prediction-files")
def prediction_files_delete(sender, instance: Prediction, **kwargs) -> None:
    stored_files_delete_on_commit(names=[instance.gradcam.name])
