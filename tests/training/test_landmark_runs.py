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


def test_platform_landmark_defaults_are_the_engine_defaults():
    from training.engine import LandmarkTrainConfig

    config = LandmarkTrainConfig()
    recipe = LANDMARK_RECIPE.as_dict()
    assert config.time_budget_s == recipe.pop("minutes") * 60
    assert config.lr == recipe.pop("learning_rate")
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
