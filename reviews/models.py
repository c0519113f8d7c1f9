"""Reviews: a reviewer's read of a radiograph. Moved from the cases app with state-only
migrations: the tables keep their names."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from cases.models import UNGRADABLE

__all__ = ["UNGRADABLE", "MeasurementCorrection", "Review"]


class Review(models.Model):
    """One reviewer's current read of one radiograph. Changeable; history keeps every version."""

    radiograph = models.ForeignKey("cases.Radiograph", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    # A key of the model version's label set, or UNGRADABLE.
    label = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    blind = models.BooleanField(
        default=False, help_text="Committed before the model's answer was shown."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The table names are the ones the cases app created: the model moved, its rows did not.
    history = HistoricalRecords(table_name="cases_historicalreview")

    class Meta:
        db_table = "cases_review"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["radiograph", "reviewer"], name="one_review_per_reviewer"
            ),
        ]

    def __str__(self) -> str:
        return f"Review {self.pk} of radiograph {self.radiograph_id}"


class MeasurementCorrection(models.Model):
    """A reviewer's correction of a film's Cobb measurement. Never changed: a new correction is
    a new row, so the rows of a radiograph are its history and the latest one is what counts.

    The landmarks (68 [x, y] pairs in the stored film's pixels, 4 corners for each of T1-L5)
    and the end vertebrae are the reviewer's; every angle is computed by the server from them
    with the engine's Cobb geometry (inference.engine.cobb), never taken from the client."""

    radiograph = models.ForeignKey(
        "cases.Radiograph", on_delete=models.CASCADE, related_name="measurement_corrections"
    )
    # The model's measurement the reviewer started from (kept if that row goes).
    measurement = models.ForeignKey(
        "inference.Measurement", on_delete=models.SET_NULL, null=True, blank=True, related_name="corrections"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="measurement_corrections"
    )
    landmarks = models.JSONField(help_text="68 [x, y] pairs in the stored film's pixels.")
    upper_end = models.CharField(max_length=4, help_text="Upper end vertebra of the measured curve.")
    lower_end = models.CharField(max_length=4, help_text="Lower end vertebra of the measured curve.")
    ends_chosen = models.BooleanField(
        default=False, help_text="The reviewer chose the end vertebrae (else the largest curve's)."
    )
    apex = models.CharField(max_length=4)
    largest_angle = models.FloatField(help_text="The curve between the end vertebrae, in degrees.")
    cobb_pt = models.FloatField()
    cobb_mt = models.FloatField()
    cobb_tl = models.FloatField()
    curve_type = models.CharField(max_length=1)
    severity = models.CharField(max_length=32)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["radiograph", "-created_at"], name="correction_latest_idx")]

    def __str__(self) -> str:
        return f"Cobb correction of radiograph {self.radiograph_id}: {self.largest_angle:.1f} deg"
