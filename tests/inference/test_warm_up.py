"""A worker that takes prediction tasks loads the active model when it starts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadPool

from inference import runtime, signals
from inference.engine import CheckpointError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    runtime.clear()
    yield
    runtime.clear()


def test_warm_up_loads_and_runs_the_active_model(model_version):
    before = runtime.load_count
    assert runtime.warm_up() == model_version.pk
    assert runtime.cached_model_version_id() == model_version.pk and runtime.load_count == before + 1
    # The first task then finds the model in the cache.
    assert runtime.predictor_for(model_version) is runtime.predictor_for(model_version)
    assert runtime.load_count == before + 1


def test_warm_up_without_an_active_model_does_nothing():
    assert runtime.warm_up() is None and runtime.cached_model_version_id() is None


def test_a_failed_warm_up_is_logged_and_never_raised(model_version, monkeypatch, caplog):
    def broken(version):
        raise CheckpointError("stored checkpoint does not match its registered sha256")

    monkeypatch.setattr(runtime, "predictor_for", broken)
    assert runtime.warm_up() is None
    assert "warm-up failed" in caplog.text


def _app(queues):
    return SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=queues)))


def test_only_workers_on_the_inference_queue_warm_up():
    assert signals.consumes_inference_queue(_app(None))  # no -Q: every queue
    assert signals.consumes_inference_queue(_app({"inference": object()}))
    assert not signals.consumes_inference_queue(_app({"training": object()}))


@pytest.mark.parametrize(("pool", "queues", "warmed"), [
    (ThreadPool, None, True),  # threads/solo: tasks run in this process
    (PreforkPool, None, False),  # prefork: the children warm themselves, not the parent
    (ThreadPool, {"training": object()}, False),  # a training worker never predicts
])
def test_worker_ready_warms_the_processes_that_predict(settings, monkeypatch, pool, queues, warmed):
    settings.INFERENCE_WORKER_WARM_UP = True
    calls = []
    monkeypatch.setattr(signals, "_warm_up_in_background", lambda: calls.append(1))
    signals.worker_warm_up(sender=SimpleNamespace(pool=object.__new__(pool), app=_app(queues)))
    assert bool(calls) is warmed


def test_warm_up_can_be_turned_off(settings, monkeypatch):
    settings.INFERENCE_WORKER_WARM_UP = False
    calls = []
    monkeypatch.setattr(signals, "_warm_up_in_background", lambda: calls.append(1))
    signals.worker_warm_up(sender=SimpleNamespace(pool=object.__new__(ThreadPool), app=_app(None)))
    signals.worker_child_warm_up()
    assert not calls
