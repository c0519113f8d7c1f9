"""Reads of the model registry, and the one place that decides who may list it: admins (the
registry is an admin's tool). The platform itself reads the active version without a user."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from registry.models import ModelKind, ModelVersion, ModelVersionStatus
from scoliosis_portal.roles import user_is_admin


def model_version_get_active(kind: str = ModelKind.CLASSIFIER) -> ModelVersion | None:
    """The active model version of `kind` (the database guarantees at most one per kind)."""
    return ModelVersion.objects.filter(kind=kind, status=ModelVersionStatus.ACTIVE).first()


def model_version_get_by_sha256(*, sha256: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(sha256=sha256).first()


def model_version_list_for_user(*, user) -> QuerySet[ModelVersion]:
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may see the model registry.")
    return ModelVersion.objects.select_related("activated_by").order_by("-created_at", "-id")


def model_version_get_for_user(*, user, model_version_id: int) -> ModelVersion:
    return get_object_or_404(model_version_list_for_user(user=user), pk=model_version_id)


def model_version_rollback_targets(*, user, kind: str | None = None) -> QuerySet[ModelVersion]:
    """Versions one may roll back to: retired ones that were active before (of `kind`, if given)."""
    targets = model_version_list_for_user(user=user).filter(status=ModelVersionStatus.RETIRED)
    return targets if kind is None else targets.filter(kind=kind)
