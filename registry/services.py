"""Writes of the model registry: register a checkpoint, activate a version (with a reason),
roll back, register the shipped defaults.

Every version has a kind (classifier, landmarks), read from its checkpoint; activation and
rollback act within one kind, so each kind has its own active version.

One verb, "activate", for every way a version becomes the active one: an admin's choice, a
rollback, the training gate and the first install all call `model_version_activate`."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from registry.models import ModelKind, ModelVersion, ModelVersionStatus
from registry.risks import ModelVersionActivationRisky, model_version_activation_risks
from registry.selectors import model_version_get_active, model_version_get_by_sha256
from scoliosis_portal.roles import user_is_admin

logger = logging.getLogger(__name__)


def _checkpoint_kind_and_metadata(data: bytes) -> tuple[str, dict[str, Any]]:
    """(kind, metadata) of a checkpoint. Each kind has its own file format, so a file is tried
    as each in turn; the metadata's own "kind", where present, must agree with the format."""
    # Imported here: torch stays out of the web request path; only registration reads weights.
    from inference.engine import (
        CLASSIFIER_FORMAT,
        LANDMARK_FORMAT,
        CheckpointError,
        load_checkpoint,
    )

    errors = []
    for kind, file_format in ((ModelKind.CLASSIFIER, CLASSIFIER_FORMAT), (ModelKind.LANDMARKS, LANDMARK_FORMAT)):
        try:
            metadata = load_checkpoint(data, expected_format=file_format).metadata
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        declared = metadata.get("kind", kind)
        if declared != kind:
            raise CheckpointError(f"checkpoint metadata says kind {declared!r} but the file is a {kind} checkpoint")
        return kind, metadata
    # The integrity or format error that explains best: the one of the format the file claims.
    raise CheckpointError(next((e for e in errors if "integrity" in e or "missing" in e), errors[0]))


def _labels(kind: str, metadata: dict[str, Any]) -> list:
    if kind == ModelKind.LANDMARKS:
        # A landmark model's "labels" are the vertebrae it finds, in its output order.
        return list(metadata.get("vertebrae") or [])
    return list(metadata["labels"])


def model_version_register(
    *, data: bytes, name: str | None = None, model_card: str = "", kind: str | None = None
) -> tuple[ModelVersion, bool]:
    """Register a checkpoint as a candidate, idempotently by the sha256 of its bytes.

    Returns (model_version, created). The checkpoint is validated by loading its metadata
    (CheckpointError propagates) and copied into private storage under a random name. Its kind
    comes from the checkpoint; `kind`, when given, is what the caller expects, and a checkpoint
    of another kind is refused (ValidationError).
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = model_version_get_by_sha256(sha256=sha256)
    if existing is not None:
        _check_kind(expected=kind, found=existing.kind)
        return existing, False
    found_kind, metadata = _checkpoint_kind_and_metadata(data)
    _check_kind(expected=kind, found=found_kind)
    version = ModelVersion(
        name=name or metadata.get("name") or f"{metadata.get('architecture', 'model')}-{sha256[:12]}",
        kind=found_kind,
        sha256=sha256,
        architecture=str(metadata.get("architecture", "")),
        labels=_labels(found_kind, metadata),
        input_size=_as_list(metadata.get("input_size")),
        metrics=checkpoint_metrics(metadata),
        model_card=model_card or str(metadata.get("model_card", "")),
        status=ModelVersionStatus.CANDIDATE,
    )
    version.checkpoint.save("checkpoint.pt", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError:
        winner = model_version_get_by_sha256(sha256=sha256)
        if winner is not None:
            # A concurrent registration of the same bytes won the race; theirs is the record.
            version.checkpoint.delete(save=False)
            return winner, False
        # Same name, different weights: keep both, told apart by their fingerprint.
        version.name = f"{version.name[:80]}-{sha256[:12]}"
        with transaction.atomic():
            version.save()
    return version, True


def checkpoint_metrics(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metrics a version is listed and compared with, from its checkpoint's metadata.

    A platform run adds its own evaluation after registering. A checkpoint trained elsewhere (the
    shipped default) carries its cross-validation instead: its pooled out-of-fold metrics, with
    the spine films' out-of-distribution rate of the same folds, become its "evaluation"."""
    metrics = dict(metadata.get("metrics") or {})
    cv = metadata.get("cross_validation") or {}
    pooled = (cv.get("metrics") or {}).get("pooled")
    if "evaluation" not in metrics and isinstance(pooled, dict):
        evaluation = {k: v for k, v in pooled.items() if k != "ci95"}
        spine_rate = (cv.get("ood") or {}).get("spine_flag_rate")
        if spine_rate is not None:
            evaluation["ood_flag_rate"] = spine_rate
        metrics["evaluation"] = evaluation
        metrics["evaluation_source"] = str(cv.get("method") or "cross-validation") + " (pooled out-of-fold)"
    return metrics


def _check_kind(*, expected: str | None, found: str) -> None:
    if expected is not None and expected != found:
        raise ValidationError(f"This checkpoint is a {found} model, not a {expected} model.")


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value, value]


def model_version_activate(
    *, model_version: ModelVersion, user: Any | None, reason: str, override: bool = False
) -> ModelVersion:
    """Make `model_version` the active version of its kind, retiring the previous one of that
    kind, atomically.

    `user` is the admin who asked (checked), or None for the platform itself (the training
    gate, the first install). The reason and the actor are recorded on the version and in its
    history. Workers notice on their next task (their model cache is keyed by version id).

    A candidate that would make things worse than the active model (registry.risks: a class
    dropped, the gate failed, more spine films called out of distribution) is refused with
    ModelVersionActivationRisky unless `override` is given; an override is recorded with the
    risks it accepted. A version that was active before (a rollback) is not checked.
    """
    if user is not None and not user_is_admin(user):
        raise PermissionDenied("Only admins may activate a model version.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason for activating this model version."})
    if model_version.status == ModelVersionStatus.FAILED:
        raise ValidationError("A failed model version cannot be activated.")
    with transaction.atomic():
        # Lock the current active row of this kind so two activations serialise instead of
        # racing the "one active per kind" constraint.
        current = list(
            ModelVersion.objects.select_for_update().filter(
                kind=model_version.kind, status=ModelVersionStatus.ACTIVE
            )
        )
        target = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        if target.status == ModelVersionStatus.ACTIVE:
            return target
        accepted = _activation_risks_accepted(target, current[0] if current else None, override)
        if accepted:
            reason = f"{reason} [override, accepted: {accepted}]"
        for old in current:
            old.status = ModelVersionStatus.RETIRED
            old._change_reason = f"replaced by {target.name}: {reason}"[:100]
            old.save(update_fields=["status"])
        target.status = ModelVersionStatus.ACTIVE
        target.status_reason = reason
        target.activated_by = user if getattr(user, "pk", None) else None
        target.activated_at = timezone.now()
        target._change_reason = (f"override: {reason}" if accepted else reason)[:100]
        target.save(update_fields=["status", "status_reason", "activated_by", "activated_at"])
    logger.info("model version %s activated (%s)", target.pk, reason)
    return target


def _activation_risks_accepted(target: ModelVersion, active: ModelVersion | None, override: bool) -> str:
    """The risks an override accepts ("" when there are none); raises when there is no override."""
    if target.status != ModelVersionStatus.CANDIDATE:
        return ""  # retired: it was active before, so this is a rollback
    review = model_version_activation_risks(candidate=target, active=active)
    if not review.needs_override:
        return ""
    if not override:
        raise ModelVersionActivationRisky(review)
    return "; ".join(r.message for r in review.risks)


def model_version_rollback(
    *,
    user: Any,
    model_version: ModelVersion | None = None,
    reason: str = "",
    kind: str = ModelKind.CLASSIFIER,
) -> ModelVersion:
    """Return to an earlier version in one action: `model_version`, or by default the version
    of `kind` that was active before the current one. Only versions that were active once
    qualify."""
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may roll back the model.")
    # Only an active version is ever retired, so "retired" means "was active before".
    target = model_version or (
        ModelVersion.objects.filter(kind=kind, status=ModelVersionStatus.RETIRED)
        .order_by(F("activated_at").desc(nulls_last=True), "-pk")
        .first()
    )
    if target is None:
        raise ValidationError("There is no earlier version to roll back to.")
    if target.status != ModelVersionStatus.RETIRED:
        raise ValidationError("Roll back only to a retired version that was active before.")
    text = f"rollback: {reason.strip()}" if reason and reason.strip() else "rollback"
    return model_version_activate(model_version=target, user=user, reason=text)


DEFAULT_PATH_SETTINGS = {
    ModelKind.CLASSIFIER: "DEFAULT_MODEL_PATH",
    ModelKind.LANDMARKS: "DEFAULT_LANDMARK_MODEL_PATH",
}


def model_version_register_default(*, kind: str = ModelKind.CLASSIFIER) -> ModelVersion | None:
    """Register the shipped model of `kind` (settings.DEFAULT_MODEL_PATH for the classifier,
    settings.DEFAULT_LANDMARK_MODEL_PATH for landmarks; idempotent by sha256) and activate it
    if no version of that kind is active.

    Returns None, with a log line, when the file is absent (the platform then waits for a
    model of that kind: uploads are classified but not measured without a landmark model).
    """
    setting = DEFAULT_PATH_SETTINGS[ModelKind(kind)]
    configured = getattr(settings, setting, None)
    path = Path(configured) if configured else None
    if path is None or not path.is_file():
        logger.warning("default %s model %s not found; none registered", kind, path)
        return None
    data = path.read_bytes()
    version, created = model_version_register(data=data, kind=kind)
    if not created and "evaluation" not in (version.metrics or {}):
        # Registered before its cross-validation was read into the listing: fill it in once.
        metrics = checkpoint_metrics(_checkpoint_kind_and_metadata(data)[1])
        if "evaluation" in metrics:
            version.metrics = {**metrics, **(version.metrics or {})}
            version._change_reason = "metrics read from the checkpoint"
            version.save(update_fields=["metrics"])
    if model_version_get_active(kind=kind) is None:
        version = model_version_activate(
            model_version=version, user=None, reason=f"default {kind} model registered on install"
        )
    return version
