"""Patient-grouped, stratified k-fold cross-validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from .calibration import fit_temperature, softmax
from .data import Sample, group_ids
from .loop import ProgressCallback, TrainConfig, TrainResult, train_model
from .metrics import compute_metrics, expected_calibration_error


def grouped_folds(samples: Sequence[Sample], k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that never split a group (patient) and keep class proportions close."""
    y = [s.label for s in samples]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(samples)), y, group_ids(samples)))


@dataclass
class CrossValidationResult:
    labels: list[str]
    fold_metrics: list[dict[str, Any]]
    oof_logits: np.ndarray
    oof_targets: np.ndarray
    oof_fold: np.ndarray
    fold_temperatures: list[float]  # cross-fitted: fold k's T comes from the other folds
    pooled_temperature: float  # fitted on all out-of-fold logits (use for a model trained on all)
    summary: dict[str, Any]


def cross_validate(
    samples: Sequence[Sample],
    config: TrainConfig | None = None,
    k: int = 5,
    progress: ProgressCallback | None = None,
    on_fold: Callable[[int, TrainResult, list[Sample]], None] | None = None,
    n_boot: int = 1000,
) -> CrossValidationResult:
    """Train k models; the held-out fold only measures (no early stopping or calibration on it).

    Calibration is cross-fitted so the reported ECE is honest: fold k is scaled with the
    temperature fitted on the other folds' out-of-fold logits.
    """
    config = config or TrainConfig()
    labels = list(config.labels or sorted({s.label for s in samples}))
    fold_cfg = dataclasses.replace(config, labels=labels, temperature=1.0, early_stopping_patience=None, checkpoint=None)
    logits = np.zeros((len(samples), len(labels)))
    fold_of = np.zeros(len(samples), dtype=int)
    for fold, (train_idx, val_idx) in enumerate(grouped_folds(samples, k, config.seed)):
        train = [samples[i] for i in train_idx]
        val = [samples[i] for i in val_idx]
        cb = (lambda info, f=fold: progress({**info, "fold": f})) if progress else None
        result = train_model(train, val, fold_cfg, progress=cb)
        logits[val_idx] = result.val_logits
        fold_of[val_idx] = fold
        if on_fold:
            on_fold(fold, result, val)
    targets = np.array([labels.index(s.label) for s in samples])
    temps = [fit_temperature(logits[fold_of != f], targets[fold_of != f]) for f in range(k)]
    probs = np.zeros_like(logits)
    for f in range(k):
        probs[fold_of == f] = softmax(logits[fold_of == f], temps[f])
    fold_metrics = [compute_metrics(probs[fold_of == f], targets[fold_of == f], labels) for f in range(k)]
    pooled = compute_metrics(probs, targets, labels, n_boot=n_boot, seed=config.seed)
    summary = {
        "pooled": pooled,
        "fold_mean": {key: float(np.mean([m[key] for m in fold_metrics])) for key in fold_metrics[0]
                      if isinstance(fold_metrics[0][key], float)},
        "fold_std": {key: float(np.std([m[key] for m in fold_metrics])) for key in fold_metrics[0]
                     if isinstance(fold_metrics[0][key], float)},
        "ece_uncalibrated": expected_calibration_error(softmax(logits), targets),
    }
    return CrossValidationResult(labels, fold_metrics, logits, targets, fold_of, temps,
                                 fit_temperature(logits, targets), summary)


def grouped_holdout(samples: Sequence[Sample], fraction: float = 0.2, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """One patient-grouped stratified split: (train, validation)."""
    k = max(2, round(1 / fraction))
    train_idx, val_idx = grouped_folds(samples, k, seed)[0]
    return [samples[i] for i in train_idx], [samples[i] for i in val_idx]
