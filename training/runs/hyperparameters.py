"""Hyper-parameters an admin may choose for a training run: bounded, with safe defaults."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

# name -> (default, minimum, maximum, type). Bounds keep an admin from starting a run that
# cannot finish on the training machine; TRAINING_DEFAULT_HYPERPARAMETERS overrides defaults.
HYPERPARAMETERS: dict[str, tuple[Any, Any, Any, type]] = {
    "epochs": (8, 1, 50, int),
    "batch_size": (16, 2, 64, int),
    "learning_rate": (1e-3, 1e-5, 1e-1, float),
    "input_size": (224, 64, 512, int),
    "validation_fraction": (0.15, 0.0, 0.4, float),
    "seed": (0, 0, 2**31 - 1, int),
    # Weight of the outlier-exposure loss on spine-free strips of the training films; above 0 it
    # also turns on the confidence-floor OOD detector. 0.5 is the shipped model's recipe
    # (models/MODEL_CARD.md); 0 turns it off.
    "outlier_exposure": (0.5, 0.0, 2.0, float),
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
