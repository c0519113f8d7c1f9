"""Hyper-parameters an admin may choose for a training run: the shipped recipe's defaults,
within bounds (both from training.engine.recipe)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from training.engine.recipe import (
    LANDMARK_PLATFORM_BOUNDS,
    LANDMARK_RECIPE,
    PLATFORM_BOUNDS,
    SHIPPED_RECIPE,
    Bounds,
    landmark_learning_rate,
    landmark_recipe_field_type,
    recipe_field_type,
)

NumberTable = dict[str, tuple[Any, Any, Any, type]]


def _number_table(recipe: Any, bounds: dict[str, Bounds], field_type: Callable[[str], type]) -> NumberTable:
    """name -> (default, minimum, maximum, type): the recipe's value and the platform's bounds,
    cast to the recipe field's type."""
    return {
        name: (getattr(recipe, name), field_type(name)(b.low), field_type(name)(b.high), field_type(name))
        for name, b in bounds.items()
    }


# Both from training.engine.recipe. Bounds keep an admin from starting a run that cannot finish
# on the training machine; TRAINING_DEFAULT_HYPERPARAMETERS overrides defaults (a deployment's
# own recipe). outlier_exposure above 0 also turns on the confidence-floor OOD detector.
HYPERPARAMETERS: NumberTable = _number_table(SHIPPED_RECIPE, PLATFORM_BOUNDS, recipe_field_type)
# name -> (default, allowed values).
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    # "base": fine-tune the base model version's weights; "imagenet": start again from ImageNet.
    "start_from": ("base", ("base", "imagenet")),
}


def hyperparameters_clean(raw: dict | None) -> dict[str, Any]:
    """Defaults for what is missing; a readable ValidationError for what is out of bounds."""
    overrides = getattr(settings, "TRAINING_DEFAULT_HYPERPARAMETERS", {}) or {}
    return _clean_numbers(dict(raw or {}), HYPERPARAMETERS, overrides, CHOICES)


def _clean_numbers(raw: dict, numbers: dict, overrides: dict, choices: dict) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(numbers) - set(choices))
    if unknown:
        raise ValidationError({"hyperparameters": f"Unknown hyper-parameters: {', '.join(unknown)}."})
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (default, low, high, kind) in numbers.items():
        value = raw.get(name, overrides.get(name, default))
        try:
            value = kind(value)
        except (TypeError, ValueError):
            errors[name] = f"Must be a number between {low} and {high}."
            continue
        if kind is int and isinstance(raw.get(name), float) and raw[name] != int(raw[name]):
            errors[name] = "Must be a whole number."
        elif not low <= value <= high:
            errors[name] = f"Must be between {low} and {high}."
        clean[name] = value
    for name, (default, allowed) in choices.items():
        value = raw.get(name, overrides.get(name, default))
        if value not in allowed:
            errors[name] = f"Must be one of: {', '.join(allowed)}."
        clean[name] = value
    if errors:
        raise ValidationError(errors)
    return clean


# Landmark runs have their own knobs (landmark model, time budget).
LANDMARK_HYPERPARAMETERS: NumberTable = _number_table(LANDMARK_RECIPE, LANDMARK_PLATFORM_BOUNDS,
                                                      landmark_recipe_field_type)


LANDMARK_CHOICES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    # Train-time augmentation: off only to overfit a handful of films (tests, a smoke run).
    "augment": (True, (True, False)),
    # As for the classifier: "base" continues the base landmark version's weights (the active
    # one unless the run names another); "imagenet" starts again from ImageNet.
    "start_from": ("base", ("base", "imagenet")),
}


def landmark_hyperparameters_clean(raw: dict | None, *, base_available: bool = True) -> dict[str, Any]:
    """Like hyperparameters_clean, for a landmark run (TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS
    overrides the defaults). A learning rate nobody chose is the recipe's peak for how the run
    starts: lower for a warm start, which needs a base version to continue (`base_available`)."""
    overrides = getattr(settings, "TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS", {}) or {}
    raw = dict(raw or {})
    clean = _clean_numbers(raw, LANDMARK_HYPERPARAMETERS, overrides, LANDMARK_CHOICES)
    if "learning_rate" not in raw and "learning_rate" not in overrides:
        warm = clean["start_from"] == "base" and base_available
        clean["learning_rate"] = landmark_learning_rate(warm_start=warm)
    return clean
