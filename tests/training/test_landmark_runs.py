"""Landmark training runs on the platform: started by an admin (API and page), refused without
the shared data folder, trained by the real engine in a real worker (or the task function),
gated on the fixed evaluation part and registered as a landmark model version."""
from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import ModelKind, ModelVersion, ModelVersionStatus
from registry.selectors import model_version_get_active
from tests.training.landmark_support import TINY_LANDMARK_HYPERPARAMETERS, make_landmark_folder
from tests.training.test_worker import wait_for_run
from training.engine.recipe import LANDMARK_RECIPE
from training.models import TrainingRun, TrainingRunStatus
from training.runs import services
from training.runs.gate import landmark_model_version_evaluate_gate
from training.tasks import training_run_execute


@pytest.fixture
def landmark_data(tmp_path, settings, media_dir):
    root = make_landmark_folder(tmp_path / "aasce")
    settings.TRAINING_LANDMARK_DATA_DIR = str(root)
    settings.TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS = TINY_LANDMARK_HYPERPARAMETERS
    settings.TRAINING_PRETRAINED = False
    settings.TRAINING_TORCH_THREADS = 1
    settings.TRAINING_PROGRESS_EVERY_SECONDS = 0.0
    settings.TRAINING_AUTO_ACTIVATE = False
    return root


def metrics(mae: float | None, share: float, n: int = 100) -> dict:
    return {"largest_mae": mae, "measured_share": share, "n": n}


@pytest.fixture
def margins(settings):
    settings.TRAINING_LANDMARK_PROMOTION_MAX_MAE_RISE = 0.5
    settings.TRAINING_LANDMARK_PROMOTION_MAX_MEASURED_DROP = 0.02


def test_landmark_gate_passes_a_candidate_within_both_margins(margins):
    decision = landmark_model_version_evaluate_gate(candidate_metrics=metrics(4.4, 0.97),
                                                    active_metrics=metrics(4.0, 0.98))
    assert decision.passed
    assert decision.checks["largest_mae"]["rise"] == pytest.approx(0.4)


def test_landmark_gate_refuses_a_larger_angle_error(margins):
    decision = landmark_model_version_evaluate_gate(candidate_metrics=metrics(4.6, 0.99),
                                                    active_metrics=metrics(4.0, 0.98))
    assert not decision.passed
    assert "MAE 4.60 deg is 0.60 deg above" in decision.summary


def test_landmark_gate_refuses_a_candidate_that_measures_fewer_films(margins):
    # A lower error bought by refusing the hard films is no improvement.
    decision = landmark_model_version_evaluate_gate(candidate_metrics=metrics(3.0, 0.90),
                                                    active_metrics=metrics(4.0, 0.98))
    assert not decision.passed
    assert "measures 90.0%" in decision.summary


def test_landmark_gate_refuses_a_candidate_that_measures_nothing(margins):
    decision = landmark_model_version_evaluate_gate(candidate_metrics=metrics(None, 0.0, n=12), active_metrics=None)
    assert not decision.passed
    assert "measured none of the 12 evaluation films" in decision.summary


def test_landmark_gate_says_when_the_active_model_measured_nothing(margins):
    # An active model that refuses every evaluation film has no error to compare with: the
    # candidate passes, and the summary says why rather than claiming there is no active model.
    decision = landmark_model_version_evaluate_gate(candidate_metrics=metrics(4.0, 0.9, n=12),
                                                    active_metrics=metrics(None, 0.0, n=12))
    assert decision.passed
    assert "the active landmark model measured none of the 12 evaluation films" in decision.summary
    no_active = landmark_model_version_evaluate_gate(candidate_metrics=metrics(4.0, 0.9), active_metrics=None)
    assert "no active landmark model to compare with" in no_active.summary


def test_platform_landmark_defaults_are_the_engine_defaults():
    from training.engine import LandmarkTrainConfig

    config = LandmarkTrainConfig()
    recipe = LANDMARK_RECIPE.as_dict()
    assert config.time_budget_s == recipe.pop("minutes") * 60
    assert config.lr == recipe.pop("learning_rate")
    assert recipe.pop("warm_start_learning_rate") < config.lr  # a continuation's lower peak
    assert {k: getattr(config, k) for k in recipe} == recipe


@pytest.mark.django_db
def test_landmark_run_refuses_to_start_without_its_data_folder(settings, tmp_path, admin_user, api_as):
    settings.TRAINING_LANDMARK_DATA_DIR = str(tmp_path / "nowhere")
    response = api_as(admin_user).post("/api/v1/training-runs/", {"kind": "landmarks"}, format="json")
    assert response.status_code == 400
    assert "landmark training data is missing" in str(response.json())
    assert str(tmp_path / "nowhere") in str(response.json())
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_models_page_says_when_the_landmark_data_folder_is_missing(settings, tmp_path, admin_user, client_as):
    settings.TRAINING_LANDMARK_DATA_DIR = str(tmp_path / "nowhere")
    client = client_as(admin_user)
    page = client.get(reverse("training:models"))
    assert "landmark training data is missing" in page.content.decode()
    response = client.post(reverse("training:landmark_run_start"),
                           {"minutes": 1, "batch_size": 2, "learning_rate": 0.001, "seed": 0}, follow=True)
    assert "landmark training data is missing" in response.content.decode()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_only_admins_start_landmark_runs(landmark_data, reviewer, api_as):
    response = api_as(reviewer).post("/api/v1/training-runs/", {"kind": "landmarks"}, format="json")
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_out_of_bounds_landmark_hyperparameter_is_refused(landmark_data, admin_user, api_as):
    response = api_as(admin_user).post("/api/v1/training-runs/", {
        "kind": "landmarks", "hyperparameters": {"minutes": 500}}, format="json")
    assert response.status_code == 400
    assert "between 0.1 and 50.0" in response.json()["error"]["fields"]["minutes"][0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_admin_starts_landmark_run_and_worker_registers_the_gated_candidate(
    landmark_data, training_worker, admin_user, api_as, client_as
):
    response = api_as(admin_user).post("/api/v1/training-runs/", {"kind": "landmarks"}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["kind"] == "landmarks"
    done = wait_for_run(response.json()["id"])

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert done.dataset["base_train"] == 4 and done.dataset["base_evaluation"] == 2
    assert done.dataset["evaluation_fold"] == 0
    version = ModelVersion.objects.get(training_run=done)
    assert version.kind == ModelKind.LANDMARKS
    gate = done.evaluation["gate"]
    candidate = done.evaluation["candidate"]["metrics"]
    assert candidate["n"] == 2 and candidate["measured"] >= 1, candidate
    assert candidate["measured_share"] == candidate["measured"] / 2
    assert candidate["largest_mae"] is not None and candidate["largest_mae_n"] == candidate["measured"]
    assert gate["passed"], gate
    assert version.metrics["gate"] == gate and version.status_reason.startswith("Passed")
    # Auto-activation is off: the passing candidate waits for an admin.
    assert version.status == ModelVersionStatus.CANDIDATE and not done.evaluation["promoted"]
    assert model_version_get_active(ModelKind.LANDMARKS) is None
    assert "kept as candidate for an admin to activate" in done.log_tail
    page = client_as(admin_user).get(reverse("training:run_detail", args=[done.pk])).content.decode()
    assert "Largest angle, mean absolute error" in page and "Films measured" in page
    assert "Passed the promotion gate" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_passing_landmark_candidate_is_activated_when_auto_activation_is_on(
    landmark_data, clean_broker, settings, admin_user
):
    settings.TRAINING_AUTO_ACTIVATE = True
    run = services.training_run_start(user=admin_user, kind=ModelKind.LANDMARKS)
    # The task function itself, in this process (the worker path is the test above).
    training_run_execute.apply(args=[run.pk], task_id=run.celery_task_id)
    done = TrainingRun.objects.get(pk=run.pk)

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    version = ModelVersion.objects.get(training_run=done)
    assert done.evaluation["promoted"]
    assert model_version_get_active(ModelKind.LANDMARKS) == version
    assert "landmark gate of training run" in version.status_reason


# --- where a landmark run starts: the base (active) version's weights, or ImageNet's ---------------


@pytest.fixture
def landmark_base(landmark_data):
    """The active landmark version: random weights on the tiny runs' canvas (256 x 96, head 16),
    so a tiny run can continue it."""
    from inference.engine.landmark_model import LANDMARK_ARCHITECTURE
    from tests.inference.support import (
        build_landmark_checkpoint_bytes,
        make_active_landmark_version,
    )

    return make_active_landmark_version(data=build_landmark_checkpoint_bytes(
        seed=11, architecture=LANDMARK_ARCHITECTURE, input_size=256, input_width=96))


def _tamper(version: ModelVersion) -> None:
    """Another valid checkpoint where the registered one was stored."""
    from pathlib import Path

    from inference.engine.landmark_model import LANDMARK_ARCHITECTURE
    from tests.inference.support import build_landmark_checkpoint_bytes

    Path(version.checkpoint.path).write_bytes(build_landmark_checkpoint_bytes(
        seed=12, architecture=LANDMARK_ARCHITECTURE, input_size=256, input_width=96))


def _run_landmarks(admin_user, **hyperparameters) -> TrainingRun:
    """A two-epoch landmark run, executed here by the worker's own function."""
    from training.runs.execution import training_run_execute as execute

    run = services.training_run_start(user=admin_user, kind=ModelKind.LANDMARKS,
                                      hyperparameters={"max_epochs": 2, **hyperparameters})
    execute(training_run_id=run.pk, task_id=run.celery_task_id)
    return TrainingRun.objects.get(pk=run.pk)


def _metadata(version: ModelVersion) -> dict:
    from inference.engine import load_checkpoint
    from inference.engine.landmark_predictor import LANDMARK_FORMAT

    with version.checkpoint.open("rb") as handle:
        return load_checkpoint(handle.read(), expected_format=LANDMARK_FORMAT).metadata


@pytest.mark.django_db
def test_landmark_run_from_base_continues_the_active_versions_weights(landmark_base, admin_user):
    done = _run_landmarks(admin_user)  # start_from defaults to "base"

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert done.hyperparameters["start_from"] == "base" and done.base_model_version == landmark_base
    assert f"fine-tuning base model {landmark_base.name} (#{landmark_base.pk})" in done.log_tail
    meta = _metadata(ModelVersion.objects.get(training_run=done))
    # The engine loaded the base's weights strictly and recorded the file it read.
    assert meta["training"]["init_checkpoint_sha256"] == landmark_base.sha256
    assert meta["start_from"] == "base"
    assert meta["initialised_from"] == {"model_version": {"id": landmark_base.pk, "name": landmark_base.name},
                                        "checkpoint_sha256": landmark_base.sha256}


@pytest.mark.django_db
def test_landmark_run_fails_readably_when_the_stored_base_is_not_the_registered_one(landmark_base, admin_user):
    _tamper(landmark_base)
    done = _run_landmarks(admin_user, start_from="base")

    assert done.status == TrainingRunStatus.FAILED
    assert done.error == (f"The stored checkpoint of base model {landmark_base.name} (#{landmark_base.pk}) is "
                          "not the registered one; choose another base or start from ImageNet.")
    assert not ModelVersion.objects.filter(training_run=done).exists()
    assert model_version_get_active(ModelKind.LANDMARKS) == landmark_base


@pytest.mark.django_db
def test_landmark_run_says_when_the_base_is_another_canvas_than_the_run(landmark_data, admin_user):
    from tests.inference.support import make_active_landmark_version

    other = make_active_landmark_version(seed=3)  # a 128 x 64 canvas; the run's is 256 x 96
    done = _run_landmarks(admin_user)

    assert done.status == TrainingRunStatus.FAILED
    assert done.error.startswith(f"The base landmark model {other.name} (#{other.pk}) cannot be continued "
                                 "with this run's hyper-parameters")
    assert done.error.endswith("keep its input size, input width and head width, or start from ImageNet.")


@pytest.mark.django_db
def test_landmark_run_from_imagenet_never_reads_the_base(landmark_base, admin_user):
    _tamper(landmark_base)  # reading it would fail the run
    done = _run_landmarks(admin_user, start_from="imagenet")

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert "starting from ImageNet weights" in done.log_tail and "fine-tuning" not in done.log_tail
    meta = _metadata(ModelVersion.objects.get(training_run=done))
    assert "init_checkpoint_sha256" not in meta["training"] and meta["training"]["init_checkpoint"] is None
    assert meta["start_from"] == "imagenet" and "initialised_from" not in meta


@pytest.mark.django_db
def test_landmark_run_from_base_without_an_active_version_starts_from_imagenet(landmark_data, admin_user):
    done = _run_landmarks(admin_user, start_from="base")

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert "starting from ImageNet weights (no base model version to start from)" in done.log_tail
    assert _metadata(ModelVersion.objects.get(training_run=done))["start_from"] == "imagenet"


@pytest.mark.django_db
def test_landmark_learning_rate_nobody_chose_is_lower_for_a_warm_start(landmark_data, settings, admin_user):
    # The deployment's recipe without a learning rate of its own: the shipped recipe's peaks.
    settings.TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS = {
        k: v for k, v in TINY_LANDMARK_HYPERPARAMETERS.items() if k != "learning_rate"}

    def started(**hyperparameters) -> dict:
        run = services.training_run_start(user=admin_user, kind=ModelKind.LANDMARKS, hyperparameters=hyperparameters)
        TrainingRun.objects.filter(pk=run.pk).delete()  # the one-live-run slot, for the next
        return run.hyperparameters

    assert started()["learning_rate"] == LANDMARK_RECIPE.learning_rate  # no base to continue
    from tests.inference.support import make_active_landmark_version

    make_active_landmark_version()
    assert started()["learning_rate"] == LANDMARK_RECIPE.warm_start_learning_rate == 5e-4
    assert started(start_from="imagenet")["learning_rate"] == LANDMARK_RECIPE.learning_rate == 1e-3
    assert started(learning_rate=2e-3)["learning_rate"] == 2e-3  # an admin's choice stands


@pytest.mark.django_db
def test_models_page_offers_where_a_landmark_run_starts(landmark_data, admin_user, client_as):
    client = client_as(admin_user)
    page = client.get(reverse("training:models")).content.decode()
    assert "the active landmark model&#x27;s weights (warm start)" in page
    client.post(reverse("training:landmark_run_start"),
                {"minutes": 1, "batch_size": 2, "seed": 0, "start_from": "imagenet"})
    run = TrainingRun.objects.get()
    assert run.hyperparameters["start_from"] == "imagenet"
    assert run.hyperparameters["learning_rate"] == TINY_LANDMARK_HYPERPARAMETERS["learning_rate"]
