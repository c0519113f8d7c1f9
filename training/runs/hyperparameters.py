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


# Train-time augmentation: off only to overfit a handful of films (tests, a smoke run).
LANDMARK_CHOICES: dict[str, tuple[bool, tuple[bool, ...]]] = {"augment": (True, (True, False))}


def landmark_hyperparameters_clean(raw: dict | None) -> dict[str, Any]:
    """Like hyperparameters_clean, for a landmark run (TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS
    overrides the defaults)."""
    overrides = getattr(settings, "TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS", {}) or {}
    return _clean_numbers(dict(raw or {}), LANDMARK_HYPERPARAMETERS, overrides, LANDMARK_CHOICES)
