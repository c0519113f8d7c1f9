"""Reviews: a reviewer's read of a radiograph. Moved from the cases app with state-only
migrations: the tables keep their names."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from cases.models import UNGRADABLE

__all__ = ["UNGRADABLE", "Review"]


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
