"""Reads of training runs, and the one place that decides who sees them: admins only.
The registry's own reads are in registry.selectors."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from registry.models import ModelVersion
from scoliosis_portal.roles import user_is_admin
from training.models import TrainingRun


def _require_admin(user) -> None:
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may see training runs.")


def training_run_list_for_user(*, user) -> QuerySet[TrainingRun]:
    _require_admin(user)
    return TrainingRun.objects.select_related("started_by", "base_model_version").order_by("-created_at", "-id")


def training_run_get_for_user(*, user, training_run_id: int) -> TrainingRun:
    return get_object_or_404(training_run_list_for_user(user=user), pk=training_run_id)


def model_version_produced_by(run: TrainingRun) -> ModelVersion | None:
    return ModelVersion.objects.filter(training_run=run).first()
