"""The model registry. Every model the platform can run is a ModelVersion of one kind (the
classifier, the vertebra landmark model); each kind has at most one active version.

Moved here from the training app with state-only migrations: the tables keep their names."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class ModelKind(models.TextChoices):
    CLASSIFIER = "classifier", "Classifier"
    LANDMARKS = "landmarks", "Vertebra landmarks"


class ModelVersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


def checkpoint_upload_to(instance: ModelVersion, filename: str) -> str:
    return f"checkpoints/{uuid.uuid4().hex}.pt"


class ModelVersion(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        max_length=16, choices=ModelKind.choices, default=ModelKind.CLASSIFIER, db_index=True
    )
    checkpoint = models.FileField(upload_to=checkpoint_upload_to, max_length=255)
    sha256 = models.CharField(max_length=64, unique=True)
    architecture = models.CharField(max_length=64)
    labels = models.JSONField(help_text="The label set, in the model's output order.")
    input_size = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, blank=True)
    model_card = models.TextField(blank=True)
    status = models.CharField(
        max_length=16,
        choices=ModelVersionStatus.choices,
        default=ModelVersionStatus.CANDIDATE,
        db_index=True,
    )
    status_reason = models.TextField(blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="model_versions_activated",
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The run that produced this version (None for the shipped default or an imported file).
    # The one reference upward, kept as a lazy model string (no import of training) so the
    # column stays where it is: the registry never reads it, training's selectors do.
    training_run = models.OneToOneField(
        "training.TrainingRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_version",
    )

    # The table names are the ones the training app created: the model moved, its rows did not.
    history = HistoricalRecords(table_name="training_historicalmodelversion")

    class Meta:
        db_table = "training_modelversion"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One active version per kind: the classifier and the landmark model are activated
            # and rolled back independently.
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status="active"),
                name="one_active_model_version_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name
