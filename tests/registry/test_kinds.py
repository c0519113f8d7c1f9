"""Model kinds: the classifier and the landmark model each have their own active version,
activation and rollback; the kind comes from the checkpoint."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from inference.engine import CheckpointError
from registry.models import ModelKind, ModelVersion, ModelVersionStatus
from registry.selectors import model_version_get_active
from registry.services import (
    model_version_activate,
    model_version_register,
    model_version_register_default,
    model_version_rollback,
)
from tests.inference import support

pytestmark = pytest.mark.django_db


def test_register_reads_the_kind_from_the_checkpoint():
    classifier, _ = model_version_register(data=support.checkpoint_bytes(seed=0))
    landmarks, _ = model_version_register(data=support.landmark_checkpoint_bytes(seed=0))

    assert classifier.kind == ModelKind.CLASSIFIER and classifier.labels == support.LABELS
    assert landmarks.kind == ModelKind.LANDMARKS
    assert landmarks.labels[0] == "T1" and landmarks.labels[-1] == "L5" and len(landmarks.labels) == 17


def test_register_refuses_a_checkpoint_of_another_kind_than_asked():
    with pytest.raises(ValidationError, match="landmarks model"):
        model_version_register(data=support.landmark_checkpoint_bytes(seed=0), kind=ModelKind.CLASSIFIER)
    assert not ModelVersion.objects.exists()


def test_register_refuses_a_truncated_landmark_checkpoint():
    data = support.landmark_checkpoint_bytes(seed=0)
    with pytest.raises(CheckpointError):
        model_version_register(data=data[: len(data) // 2])


def test_each_kind_has_its_own_active_version():
    classifier = support.make_active_model_version(seed=0)
    landmarks = support.make_active_landmark_version(seed=0)

    classifier.refresh_from_db()
    assert classifier.status == ModelVersionStatus.ACTIVE and landmarks.status == ModelVersionStatus.ACTIVE
    assert model_version_get_active() == classifier
    assert model_version_get_active(kind=ModelKind.LANDMARKS) == landmarks


def test_activating_a_landmark_version_retires_only_the_previous_landmark_version(admin_user):
    classifier = support.make_active_model_version(seed=0)
    first = support.make_active_landmark_version(seed=0)
    second, _ = model_version_register(data=support.landmark_checkpoint_bytes(seed=1))

    model_version_activate(model_version=second, user=admin_user, reason="lower angle error")

    first.refresh_from_db()
    classifier.refresh_from_db()
    assert first.status == ModelVersionStatus.RETIRED
    assert classifier.status == ModelVersionStatus.ACTIVE
    assert model_version_get_active(kind=ModelKind.LANDMARKS) == second


def test_rollback_stays_within_its_kind(admin_user):
    old_classifier = support.make_active_model_version(seed=0)
    support.make_active_model_version(seed=1)
    old_landmarks = support.make_active_landmark_version(seed=0)
    new_landmarks, _ = model_version_register(data=support.landmark_checkpoint_bytes(seed=1))
    model_version_activate(model_version=new_landmarks, user=admin_user, reason="new")

    back = model_version_rollback(user=admin_user, kind=ModelKind.LANDMARKS, reason="odd angles")

    assert back == old_landmarks
    assert model_version_get_active(kind=ModelKind.LANDMARKS) == old_landmarks
    # The classifier's own history is untouched by the landmark rollback.
    assert model_version_get_active().name != old_classifier.name


def test_the_database_refuses_two_active_versions_of_one_kind():
    support.make_model_version_row(name="a", kind=ModelKind.LANDMARKS, active=True)
    support.make_model_version_row(name="c", kind=ModelKind.CLASSIFIER, active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        support.make_model_version_row(name="b", kind=ModelKind.LANDMARKS, active=True)


def test_register_default_landmarks_registers_and_activates_once(settings, tmp_path):
    path = tmp_path / "landmarks.pt"
    path.write_bytes(support.landmark_checkpoint_bytes(seed=2))
    settings.DEFAULT_LANDMARK_MODEL_PATH = path
    classifier = support.make_active_model_version(seed=0)

    version = model_version_register_default(kind=ModelKind.LANDMARKS)

    assert version.kind == ModelKind.LANDMARKS and version.status == ModelVersionStatus.ACTIVE
    assert model_version_register_default(kind=ModelKind.LANDMARKS).pk == version.pk
    assert model_version_get_active() == classifier


def test_missing_default_landmark_model_is_a_log_line_not_a_crash(settings, tmp_path, caplog):
    settings.DEFAULT_LANDMARK_MODEL_PATH = tmp_path / "missing.pt"

    assert model_version_register_default(kind=ModelKind.LANDMARKS) is None
    assert "landmarks model" in caplog.text and "not found" in caplog.text
