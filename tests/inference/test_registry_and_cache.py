"""The minimal model registry and the worker's per-process model cache."""
from __future__ import annotations

import pytest

from inference import runtime
from inference.engine import CheckpointError
from registry.models import ModelVersion
from registry.selectors import model_version_get_active
from registry.services import (
    model_version_activate,
    model_version_register,
    model_version_register_default,
)
from tests.inference import support

pytestmark = pytest.mark.django_db


def test_register_is_idempotent_by_sha256_and_stores_privately():
    data = support.checkpoint_bytes()
    first, created = model_version_register(data=data)
    again, created_again = model_version_register(data=data)
    assert created and not created_again and first.pk == again.pk
    assert first.labels == support.LABELS and first.status == "candidate"
    assert first.checkpoint.name.startswith("checkpoints/")


def test_activate_switches_in_one_step_and_is_audited(admin_user):
    a = support.make_active_model_version(seed=0)
    b, _ = model_version_register(data=support.checkpoint_bytes(seed=1))
    model_version_activate(model_version=b, user=admin_user, reason="better macro-F1")
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == ("retired", "active")
    assert model_version_get_active() == b
    assert b.activated_by == admin_user
    assert b.history.first().history_change_reason == "better macro-F1"


def test_register_default_registers_and_activates_once(settings, tmp_path):
    path = tmp_path / "default.pt"
    path.write_bytes(support.checkpoint_bytes(seed=2))
    settings.DEFAULT_MODEL_PATH = path
    ModelVersion.objects.filter(status="active").update(status="retired")
    version = model_version_register_default()
    assert version.status == "active"
    assert model_version_register_default().pk == version.pk
    assert ModelVersion.objects.filter(sha256=version.sha256).count() == 1


def test_register_default_without_file_is_a_warning_not_a_crash(settings, tmp_path):
    settings.DEFAULT_MODEL_PATH = tmp_path / "missing.pt"
    assert model_version_register_default() is None


def test_cache_loads_once_per_version_and_reloads_on_change():
    runtime.clear()
    a = support.make_active_model_version(seed=0)
    before = runtime.load_count
    first = runtime.predictor_for(a)
    assert runtime.predictor_for(a) is first
    assert runtime.load_count == before + 1
    b, _ = model_version_register(data=support.checkpoint_bytes(seed=1))
    model_version_activate(model_version=b, user=None, reason="test")
    second = runtime.predictor_for(b)
    assert second is not first and runtime.cached_model_version_id() == b.pk
    assert runtime.load_count == before + 2


def test_cache_refuses_a_stored_checkpoint_that_is_not_the_registered_one():
    runtime.clear()
    version = support.make_active_model_version(seed=0)
    ModelVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)
    version.refresh_from_db()
    with pytest.raises(CheckpointError):
        runtime.predictor_for(version)


def test_same_name_different_weights_are_both_registered():
    a, _ = model_version_register(data=support.checkpoint_bytes(seed=3), name="same-name")
    b, created = model_version_register(data=support.checkpoint_bytes(seed=4), name="same-name")
    assert created and a.pk != b.pk and b.name.startswith("same-name-")


@pytest.mark.skipif(runtime._malloc_trim is None, reason="the C library has no malloc_trim")
def test_freed_memory_is_released_at_most_once_per_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "_malloc_trim", calls.append)
    monkeypatch.setattr(runtime, "_last_trim", float("-inf"))
    assert runtime.release_freed_memory(min_interval_s=60) is True
    assert runtime.release_freed_memory(min_interval_s=60) is False
    assert runtime.release_freed_memory(min_interval_s=0) is True
    assert calls == [0, 0]
