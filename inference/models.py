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


class ModelReading(models.Model):
    """What a Prediction and a Measurement share: one model version's reading of one radiograph
    (each kind declares its `radiograph` and `model_version`; one reading per pair), and the
    state of record of the background work that makes it (status, attempts, timings, error,
    celery_task_id)."""

    status = models.CharField(
        max_length=16,
        choices=PredictionStatus.choices,
        default=PredictionStatus.QUEUED,
        db_index=True,
    )
    timings_ms = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["radiograph", "model_version"],
                name="one_%(class)s_per_radiograph_and_model_version",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "queued_at"]),
            models.Index(fields=["status", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self._meta.object_name} {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (PredictionStatus.SUCCEEDED, PredictionStatus.FAILED)


def gradcam_upload_to(instance: Prediction, filename: str) -> str:
    # Random names only, like the radiograph itself.
    return f"gradcam/{uuid.uuid4().hex}.png"


class Prediction(ModelReading):
    """One classifier version's answer for one radiograph."""

    radiograph = models.ForeignKey(
        "cases.Radiograph", on_delete=models.CASCADE, related_name="predictions"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="predictions"
    )
    label = models.CharField(max_length=64, blank=True, default="")
    probabilities = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    ood_score = models.FloatField(null=True, blank=True)
    out_of_distribution = models.BooleanField(default=False)
    gradcam = models.FileField(upload_to=gradcam_upload_to, max_length=255, blank=True)


class CurveType(models.TextChoices):
    C = "C", "C-shaped (one curve)"
    S = "S", "S-shaped (two curves)"


class SeverityBand(models.TextChoices):
    """The clinical bands of the largest Cobb angle (inference.engine.severity_band)."""

    NONE = "none", "No scoliosis (under 10\u00b0)"
    WATCH = "watch", "Mild: watch (10\u201325\u00b0)"
    BRACE = "brace", "Moderate: brace (25\u201340\u00b0)"
    SURGICAL = "surgical consideration", "Severe: consider surgery (over 40\u00b0)"


# A measured largest angle from this value up counts as scoliosis evidence.
SCOLIOSIS_MIN_ANGLE_DEG = 10.0


def overlay_upload_to(instance: Measurement, filename: str) -> str:
    return f"cobb/{uuid.uuid4().hex}.png"


class Measurement(ModelReading):
    """One landmark model version's Cobb measurement of one radiograph.

    Either measured (the angles, the largest curve and the 68 landmarks in the stored image's
    pixels, 4 corners per vertebra T1-L5, top-left, top-right, bottom-left, bottom-right) or
    not measured with the reason (`not_measured`), never an invented angle. Same state of
    record as a Prediction (status, attempts, timings, error, celery_task_id).
    """

    radiograph = models.ForeignKey(
        "cases.Radiograph", on_delete=models.CASCADE, related_name="measurements"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="measurements",
        limit_choices_to={"kind": "landmarks"},
    )
    cobb_pt = models.FloatField(null=True, blank=True)
    cobb_mt = models.FloatField(null=True, blank=True)
    cobb_tl = models.FloatField(null=True, blank=True)
    largest_angle = models.FloatField(null=True, blank=True, db_index=True)
    largest_upper = models.CharField(max_length=3, blank=True, default="")
    largest_lower = models.CharField(max_length=3, blank=True, default="")
    largest_apex = models.CharField(max_length=3, blank=True, default="")
    curve_type = models.CharField(max_length=1, choices=CurveType.choices, blank=True, default="")
    severity = models.CharField(max_length=32, choices=SeverityBand.choices, blank=True, default="")
    landmarks = models.JSONField(null=True, blank=True)
    not_measured = models.CharField(max_length=64, blank=True, default="")
    ood_distance = models.FloatField(null=True, blank=True)
    overlay = models.FileField(upload_to=overlay_upload_to, max_length=255, blank=True)

    @property
    def measured(self) -> bool:
        return self.status == PredictionStatus.SUCCEEDED and not self.not_measured

    @property
    def scoliosis_evidence(self) -> bool | None:
        """Whether the measured largest angle is scoliosis (>= 10 deg); None when not measured."""
        if not self.measured or self.largest_angle is None:
            return None
        return self.largest_angle >= SCOLIOSIS_MIN_ANGLE_DEG
