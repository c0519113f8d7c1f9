"""Pure PyTorch: no Django import. Everything needed to make a model.

Names load lazily (PEP 562), so `training.engine.recipe` (plain Python) can be read by the web
process without importing torch; `from training.engine import train_model` works as before.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "RadiographTrainAugmentation": "augment",
    "fit_temperature": "calibration",
    "CrossValidationResult": "cv",
    "cross_validate": "cv",
    "grouped_folds": "cv",
    "grouped_holdout": "cv",
    "DEFAULT_LABEL_MAP": "data",
    "Sample": "data",
    "data_fingerprint": "data",
    "samples_from_folder": "data",
    "evaluate_checkpoint": "evaluate",
    "TrainConfig": "loop",
    "TrainResult": "loop",
    "infer": "loop",
    "train_model": "loop",
    "compute_metrics": "metrics",
    "expected_calibration_error": "metrics",
    "LandmarkSample": "landmarks",
    "LandmarkTrainConfig": "landmarks",
    "samples_from_labels_csv": "landmarks",
    "train_landmarks": "landmarks",
    "SHIPPED_RECIPE": "recipe",
    "Recipe": "recipe",
    "LANDMARK_RECIPE": "recipe",
    "LandmarkRecipe": "recipe",
    "evaluate_landmark_predictor": "landmark_evaluate",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
