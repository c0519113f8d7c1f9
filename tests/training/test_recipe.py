"""One recipe object: the shipped model's recipe is what TrainConfig, `manage.py train`, the
platform's hyper-parameter form and a default platform run all train."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest

from training.engine.recipe import PLATFORM_BOUNDS, SHIPPED_RECIPE, Recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_deployment_overrides(settings):
    settings.TRAINING_DEFAULT_HYPERPARAMETERS = {}


def test_shipped_recipe_is_what_the_shipped_checkpoint_was_trained_with():
    from inference.engine import load_checkpoint

    trained = load_checkpoint(ROOT / "models" / "default.pt").metadata["training"]
    recorded = {**trained, "learning_rate": trained["lr"]}
    for field in fields(Recipe):
        if field.name == "validation_fraction":
            continue  # the shipped model took its calibration from CV instead (MODEL_CARD.md)
        assert recorded[field.name] == getattr(SHIPPED_RECIPE, field.name), field.name
    assert (SHIPPED_RECIPE.input_size, SHIPPED_RECIPE.outlier_exposure, SHIPPED_RECIPE.epochs) == (256, 0.5, 14)


def test_platform_run_with_default_hyperparameters_trains_the_shipped_recipe(no_deployment_overrides):
    from training.runs.execution import _train_config
    from training.runs.hyperparameters import hyperparameters_clean

    config = _train_config(hyperparameters_clean({}), ["normal", "scoliosis"], SimpleNamespace(pk=7))

    assert config.recipe() == SHIPPED_RECIPE


def test_engine_defaults_are_the_shipped_recipe():
    from training.engine import TrainConfig

    config = TrainConfig(validation_fraction=SHIPPED_RECIPE.validation_fraction)

    assert config.recipe() == SHIPPED_RECIPE


def test_hyperparameter_form_offers_the_recipe_within_the_platform_bounds(no_deployment_overrides):
    from training.views import TrainingRunStartForm

    form = TrainingRunStartForm()

    for name in ("epochs", "batch_size", "learning_rate", "input_size", "outlier_exposure"):
        field = form.fields[name]
        assert field.initial == getattr(SHIPPED_RECIPE, name), name
        assert (field.min_value, field.max_value) == (PLATFORM_BOUNDS[name].low, PLATFORM_BOUNDS[name].high)


def test_train_command_defaults_are_the_shipped_recipe():
    from training.management.commands.train import Command

    opts = Command().create_parser("manage.py", "train").parse_args(["--data", "x"])

    assert (opts.epochs, opts.input_size, opts.batch_size, opts.learning_rate, opts.seed) == (
        SHIPPED_RECIPE.epochs, SHIPPED_RECIPE.input_size, SHIPPED_RECIPE.batch_size,
        SHIPPED_RECIPE.learning_rate, SHIPPED_RECIPE.seed,
    )
    assert (opts.outlier_exposure, opts.val_fraction) == (
        SHIPPED_RECIPE.outlier_exposure, SHIPPED_RECIPE.validation_fraction,
    )


def test_reading_the_recipe_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, training.engine.recipe; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
