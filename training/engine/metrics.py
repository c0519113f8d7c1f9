"""Classification metrics with bootstrap intervals, calibration error and PNG plots."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE with equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def point_metrics(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    k = len(labels)
    preds = probs.argmax(axis=1)
    cm = confusion_matrix(targets, preds, labels=list(range(k)))
    out: dict[str, Any] = {
        "n": int(len(targets)),
        "accuracy": float(accuracy_score(targets, preds)),
        "balanced_accuracy": float(balanced_accuracy_score(targets, preds)),
        "macro_f1": float(f1_score(targets, preds, average="macro", labels=list(range(k)), zero_division=0)),
        "ece": expected_calibration_error(probs, targets),
        "confusion_matrix": cm.tolist(),
    }
    for c, name in enumerate(labels):
        tp, fn = cm[c, c], cm[c].sum() - cm[c, c]
        fp, tn = cm[:, c].sum() - tp, cm.sum() - cm[c].sum() - cm[:, c].sum() + tp
        out[f"sensitivity_{name}"] = float(tp / (tp + fn)) if tp + fn else float("nan")
        out[f"specificity_{name}"] = float(tn / (tn + fp)) if tn + fp else float("nan")
        present = (targets == c)
        out[f"auc_{name}"] = float(roc_auc_score(present, probs[:, c])) if 0 < present.sum() < len(targets) else float("nan")
    return out


SCALAR_KEYS_SKIP = {"n", "confusion_matrix"}


def bootstrap_intervals(
    probs: np.ndarray, targets: np.ndarray, labels: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """Percentile 95 % intervals by resampling images with replacement."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    with warnings.catch_warnings():
        # Small resamples may miss a class; those draws give NaN rates, ignored below.
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            _one_draw(probs, targets, labels, rng, draws)
    return {k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))] for k, v in draws.items()}


def _one_draw(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str], rng: np.random.Generator,
              draws: dict[str, list[float]]) -> None:
    idx = rng.integers(0, len(targets), len(targets))
    for key, value in point_metrics(probs[idx], targets[idx], labels).items():
        if key not in SCALAR_KEYS_SKIP:
            draws.setdefault(key, []).append(value)


def compute_metrics(
    probs: np.ndarray, targets: np.ndarray, labels: Sequence[str], n_boot: int = 0, seed: int = 0
) -> dict[str, Any]:
    metrics = point_metrics(probs, targets, labels)
    if n_boot:
        metrics["ci95"] = bootstrap_intervals(probs, targets, labels, n_boot, seed)
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    ci = metrics.get("ci95", {})
    rows = []
    for key, value in metrics.items():
        if key in SCALAR_KEYS_SKIP or key == "ci95" or not isinstance(value, float):
            continue
        interval = f"  [{ci[key][0]:.3f}, {ci[key][1]:.3f}]" if key in ci else ""
        rows.append(f"{key:<32} {value:.3f}{interval}")
    return "\n".join(rows)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    arr = np.asarray(cm)
    ax.imshow(arr, cmap="Blues")
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            ax.text(j, i, str(arr[i, j]), ha="center", va="center", color="black")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(probs: np.ndarray, targets: np.ndarray, path: str | Path, bins: int = 10) -> None:
    plt = _pyplot()
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0, 1, bins + 1)
    centres, accs = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            centres.append(conf[mask].mean())
            accs.append(correct[mask].mean())
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="gray")
    ax.plot(centres, accs, "o-")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {expected_calibration_error(probs, targets, bins):.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    if any("val_loss" in h for h in history):
        ax.plot(epochs, [h.get("val_loss", np.nan) for h in history], label="val loss")
        ax2 = ax.twinx()
        ax2.plot(epochs, [h.get("val_accuracy", np.nan) for h in history], "g:", label="val acc")
        ax2.set_ylabel("val accuracy")
    ax.set_xlabel("epoch")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
