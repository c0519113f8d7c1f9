from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from scoliosis_portal.celery import app
from tests.inference import support as inference_support
from tests.training import support
from training.runs import services


@pytest.fixture
def base_data(tmp_path, settings):
    """A synthetic base data folder (3 classes x 14 PNGs) and tiny, fast training settings."""
    root = support.make_base_folder(tmp_path / "base")
    settings.TRAINING_BASE_DATA_DIR = str(root)
    settings.TRAINING_BASE_EVALUATION_SHARE = 0.3
    settings.TRAINING_PROGRESS_EVERY_SECONDS = 0.0
    settings.TRAINING_EVALUATION_BOOTSTRAP = 20
    settings.TRAINING_TORCH_THREADS = 2
    # Two epochs on 42 synthetic textures fit no meaningful OOD threshold; the OOD part of the
    # gate has its own tests (test_gate.py), the worker tests judge macro-F1 and sensitivity.
    settings.TRAINING_PROMOTION_MAX_OOD_FLAG_RATE = 1.0
    settings.TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE = 1.0
    # 14 films per class here; the guard itself is tested with the default of 20 (test_guards.py).
    settings.TRAINING_MIN_FILMS_PER_CLASS = 10
    settings.TRAINING_DEFAULT_HYPERPARAMETERS = {
        # 0.25 of the ~10 training films per class: two or three validation films per class.
        "epochs": 2, "batch_size": 8, "input_size": 64, "validation_fraction": 0.25,
        "learning_rate": 3e-3,
        # The active model in these tests has random weights: fine-tuning it would learn little.
        # test_run_fine_tunes_its_base_model asks for "base" explicitly.
        "start_from": "imagenet",
        "outlier_exposure": 0.0,  # two epochs on textures: the OE term would only slow learning
    }
    return root


@pytest.fixture
def auto_activate(settings):
    """TRAINING_AUTO_ACTIVATE on: a candidate that passes the gate is activated by its run."""
    settings.TRAINING_AUTO_ACTIVATE = True


@pytest.fixture
def random_active_model(db):
    """An active model with random weights (a real checkpoint, chance-level answers)."""
    return inference_support.make_active_model_version()


@pytest.fixture
def versions(db):
    """An active version and a candidate (registry rows; no model is run here)."""
    active = inference_support.make_model_version_row(name="v-active", active=True)
    candidate = inference_support.make_model_version_row(name="v-candidate", active=False)
    return active, candidate


@pytest.fixture
def run(admin_user, base_data, django_capture_on_commit_callbacks):
    """A queued training run. No worker here: the task is not sent (callbacks captured, not run)."""
    with django_capture_on_commit_callbacks(execute=False):
        return services.training_run_start(user=admin_user)


@pytest.fixture
def training_worker(clean_broker, settings):
    """A real Celery worker consuming the `training` queue (and the default one).

    It asks for `settings` so that it stops before the tests' settings are restored: a run still
    queued at the end of a test (test_failed_run_... starts one) then trains with the tiny test
    recipe, not with the full default recipe on the real base data beside the checkout."""
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=60,
        queues=["training", "inference"],
    ) as worker:
        yield worker
