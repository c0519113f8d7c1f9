"""Reads of the model registry."""
from __future__ import annotations

from training.models import ModelVersion, ModelVersionStatus


def model_version_get_active() -> ModelVersion | None:
    """The one active model version (the database guarantees there is at most one)."""
    return ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).first()


def model_version_get_by_sha256(*, sha256: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(sha256=sha256).first()
