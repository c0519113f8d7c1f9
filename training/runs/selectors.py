"""Reads of training runs and the registry, and the one place that decides who sees them:
admins only (the registry and training are an admin's tools)."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from cases.roles import user_is_admin
from training.models import ModelVersion, ModelVersionStatus, TrainingRun


def _require_admin(user) -> None:
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may see the model registry and training runs.")


def model_version_list_for_user(*, user) -> QuerySet[ModelVersion]:
    _require_admin(user)
    return ModelVersion.objects.select_related("activated_by", "training_run").order_by("-created_at", "-id")


def model_version_get_for_user(*, user, model_version_id: int) -> ModelVersion:
    return get_object_or_404(model_version_list_for_user(user=user), pk=model_version_id)


def training_run_list_for_user(*, user) -> QuerySet[TrainingRun]:
    _require_admin(user)
    return TrainingRun.objects.select_related("started_by", "base_model_version").order_by("-created_at", "-id")


def training_run_get_for_user(*, user, training_run_id: int) -> TrainingRun:
    return get_object_or_404(training_run_list_for_user(user=user), pk=training_run_id)


def model_version_rollback_targets(*, user) -> QuerySet[ModelVersion]:
    """Versions one may roll back to: retired ones that were active before."""
    return model_version_list_for_user(user=user).filter(status=ModelVersionStatus.RETIRED)


def model_version_produced_by(run: TrainingRun) -> ModelVersion | None:
    return ModelVersion.objects.filter(training_run=run).first()
