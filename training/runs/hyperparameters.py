"""Hyper-parameters an admin may choose for a training run: the shipped recipe's defaults,
within bounds (both from training.engine.recipe)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from training.engine.recipe import PLATFORM_BOUNDS, SHIPPED_RECIPE, recipe_field_type

# name -> (default, minimum, maximum, type): the shipped recipe's value and the platform's bounds,
# both from training.engine.recipe. Bounds keep an admin from starting a run that cannot finish
# on the training machine; TRAINING_DEFAULT_HYPERPARAMETERS overrides defaults (a deployment's
# own recipe). outlier_exposure above 0 also turns on the confidence-floor OOD detector.
HYPERPARAMETERS: dict[str, tuple[Any, Any, Any, type]] = {
    name: (
        getattr(SHIPPED_RECIPE, name),
        recipe_field_type(name)(bounds.low),
        recipe_field_type(name)(bounds.high),
        recipe_field_type(name),
    )
    for name, bounds in PLATFORM_BOUNDS.items()
}
# name -> (default, allowed values).
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    # "base": fine-tune the base model version's weights; "imagenet": start again from ImageNet.
    "start_from": ("base", ("base", "imagenet")),
}


def hyperparameters_clean(raw: dict | None) -> dict[str, Any]:
    """Defaults for what is missing; a readable ValidationError for what is out of bounds."""
    overrides = getattr(settings, "TRAINING_DEFAULT_HYPERPARAMETERS", {}) or {}
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(HYPERPARAMETERS) - set(CHOICES))
    if unknown:
        raise ValidationError({"hyperparameters": f"Unknown hyper-parameters: {', '.join(unknown)}."})
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (default, low, high, kind) in HYPERPARAMETERS.items():
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
    for name, (default, allowed) in CHOICES.items():
        value = raw.get(name, overrides.get(name, default))
        if value not in allowed:
            errors[name] = f"Must be one of: {', '.join(allowed)}."
        clean[name] = value
    if errors:
        raise ValidationError(errors)
    return clean
