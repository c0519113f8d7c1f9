"""Predictions: one model version's reading of one radiograph.

The row is the state of record for the background work (status, attempts, timings, error,
celery_task_id); the Celery result backend is never trusted.
"""
from __future__ import annotations

import uuid

from django.db import models


class PredictionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def gradcam_upload_to(instance: Prediction, filename: str) -> str:
    # Random names only, like the radiograph itself.
    return f"gradcam/{uuid.uuid4().hex}.png"


class Prediction(models.Model):
    radiograph = models.ForeignKey(
        "cases.Radiograph", on_delete=models.CASCADE, related_name="predictions"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="predictions"
    )
    status = models.CharField(
        max_length=16,
        choices=PredictionStatus.choices,
        default=PredictionStatus.QUEUED,
        db_index=True,
    )
    label = models.CharField(max_length=64, blank=True, default="")
    probabilities = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    ood_score = models.FloatField(null=True, blank=True)
    out_of_distribution = models.BooleanField(default=False)
    gradcam = models.FileField(upload_to=gradcam_upload_to, max_length=255, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["radiograph", "model_version"],
                name="one_prediction_per_radiograph_and_model_version",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "queued_at"]),
            models.Index(fields=["status", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"Prediction {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (PredictionStatus.SUCCEEDED, PredictionStatus.FAILED)
