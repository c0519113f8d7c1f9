"""Training runs. The model versions they produce live in the registry app."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from registry.models import ModelKind, ModelVersion


class TrainingRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


LIVE_TRAINING_RUN_STATUSES = (TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING)
TRAINING_QUEUE = "training"


class TrainingRun(models.Model):
    """One admin-started training run. The row is the state of record, not the result backend."""

    status = models.CharField(
        max_length=16,
        choices=TrainingRunStatus.choices,
        default=TrainingRunStatus.QUEUED,
        db_index=True,
    )
    # What the run trains: the classifier, or the vertebra landmark model (Cobb angles).
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.CLASSIFIER)
    # The queue the run occupies. At most one live (queued or running) run per queue: the
    # partial unique constraint below refuses a second one even under concurrent requests.
    queue = models.CharField(max_length=32, default=TRAINING_QUEUE, editable=False)
    base_model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="training_runs_based_on",
        help_text="The version to compare against and whose label set is kept (default: active).",
    )
    hyperparameters = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="Latest metrics of the run.")
    history = models.JSONField(default=list, blank=True, help_text="One record per epoch.")
    evaluation = models.JSONField(
        default=dict,
        blank=True,
        help_text="Candidate and active model on the same evaluation set, and the gate decision.",
    )
    dataset = models.JSONField(default=dict, blank=True, help_text="Counts of the data used.")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Heartbeat: touched by every progress write, so a run whose worker died can be recognised.
    updated_at = models.DateTimeField(auto_now=True)

    history_log = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_live_training_run_per_queue",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0) & models.Q(progress__lte=1.0),
                name="training_run_progress_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_TRAINING_RUN_STATUSES
