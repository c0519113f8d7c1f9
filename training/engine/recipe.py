"""The training recipe: the one place the training defaults live.

`SHIPPED_RECIPE` is the recipe of the shipped model (models/MODEL_CARD.md, "Training recipe").
`TrainConfig` takes its defaults from it, `manage.py train` and the platform's hyper-parameter
form and bounds read it, and every checkpoint records the recipe it was trained with
(`metadata["recipe"]`), so a platform run with default hyper-parameters trains what was shipped.

Plain Python: no torch, no Django, so the web process can read it without importing torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_ARCHITECTURE = "tf_efficientnet_lite0"  # the same name inference.engine.model uses


@dataclass(frozen=True)
class Bounds:
    """What an admin may choose on the platform: keeps a run finishable on the training machine."""

    low: float
    high: float


@dataclass(frozen=True)
class Recipe:
    architecture: str = DEFAULT_ARCHITECTURE
    input_size: int = 256  # canvas height (and width: square)
    epochs: int = 14
    batch_size: int = 16
    learning_rate: float = 1e-3  # AdamW
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0  # then cosine decay
    freeze_stages: int = 2  # stem + first block stages: generic edges, and the costliest backward
    # Weight of the uniform-prediction loss on spine-free strips of the wide films (0 = off).
    outlier_exposure: float = 0.5
    outliers_per_batch: int = 3
    seed: int = 0
    # Patient-grouped share held out to fit the temperature and the OOD margin. The shipped
    # model itself was trained on all its images (0) with both taken from the 5-fold CV of this
    # recipe; a platform run has no CV, so it holds this share out instead.
    validation_fraction: float | None = 0.15

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SHIPPED_RECIPE = Recipe()

# The fields an admin may set on the platform, with their bounds. Names are the Recipe's.
PLATFORM_BOUNDS: dict[str, Bounds] = {
    "epochs": Bounds(1, 50),
    "batch_size": Bounds(2, 64),
    "learning_rate": Bounds(1e-5, 1e-1),
    "input_size": Bounds(64, 512),
    # Never 0 on the platform: the held-out films fit the temperature and the OOD threshold, and
    # a run without them has nothing to calibrate on (training.runs.execution fails it).
    "validation_fraction": Bounds(0.05, 0.4),
    "seed": Bounds(0, 2**31 - 1),
    "outlier_exposure": Bounds(0.0, 2.0),
}


def recipe_field_type(name: str) -> type:
    """int or float: the type of a Recipe field, for form fields and cleaning."""
    kind = {f.name: f.type for f in fields(Recipe)}[name]
    return int if kind in (int, "int") else float


@dataclass(frozen=True)
class LandmarkRecipe:
    """The landmark model's platform defaults; `LandmarkTrainConfig` has the same values (a test
    holds them equal). Time is the budget: epochs follow from it on a shared CPU."""

    minutes: float = 35.0  # the training loop's wall clock
    max_epochs: int = 200
    input_size: int = 384  # canvas height
    input_width: int = 192
    head_width: int = 96
    batch_size: int = 8
    learning_rate: float = 1e-3  # peak, for a run that starts from ImageNet weights
    # Peak of a warm start (a run that continues a landmark model's weights): the shipped model's
    # second run continued its first at half the peak (models/LANDMARK_MODEL_CARD.md, "Recipe").
    warm_start_learning_rate: float = 5e-4
    val_fraction: float = 0.1  # patient-grouped: sets the not-measured thresholds
    seed: int = 0
    warmup_steps: int = 50
    freeze_stages: int = 2  # stem + first stages keep ImageNet weights

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


LANDMARK_RECIPE = LandmarkRecipe()

LANDMARK_PLATFORM_BOUNDS: dict[str, Bounds] = {
    "minutes": Bounds(0.1, 50.0),  # the task's soft limit is 55 min: decode and evaluation need the rest
    "max_epochs": Bounds(1, 1000),
    "input_size": Bounds(64, 768),
    "input_width": Bounds(32, 384),
    "head_width": Bounds(8, 256),
    "batch_size": Bounds(1, 32),
    "learning_rate": Bounds(1e-5, 1e-1),
    "val_fraction": Bounds(0.0, 0.4),
    "seed": Bounds(0, 2**31 - 1),
    "warmup_steps": Bounds(1, 5000),
    "freeze_stages": Bounds(0, 6),
}


def landmark_learning_rate(*, warm_start: bool) -> float:
    """The recipe's peak learning rate for a landmark run: lower when it continues a model."""
    return LANDMARK_RECIPE.warm_start_learning_rate if warm_start else LANDMARK_RECIPE.learning_rate


def landmark_recipe_field_type(name: str) -> type:
    kind = {f.name: f.type for f in fields(LandmarkRecipe)}[name]
    return int if kind in (int, "int") else float
