"""Evaluate a saved checkpoint on labelled samples: metrics JSON and plots."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from inference.engine.predictor import Predictor

from .data import Sample
from .metrics import compute_metrics, plot_confusion_matrix, plot_reliability, plot_training_curves


def evaluate_checkpoint(
    checkpoint: str | os.PathLike | IO[bytes] | Predictor,
    samples: Sequence[Sample],
    out_dir: str | os.PathLike | None = None,
    n_boot: int = 1000,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Calibrated metrics (with bootstrap 95 % intervals) and the OOD flag rate on ``samples``.

    Samples whose label the model does not know are refused: that is a mismatched data set.
    """
    predictor = checkpoint if isinstance(checkpoint, Predictor) else Predictor.from_checkpoint(checkpoint)
    unknown = sorted({s.label for s in samples} - set(predictor.labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the model's label set {predictor.labels}")
    probs, flags, scores = [], [], []
    for i in range(0, len(samples), batch_size):
        for r in predictor.predict_batch([s.read() for s in samples[i : i + batch_size]]):
            probs.append([r.probabilities[label] for label in predictor.labels])
            flags.append(r.out_of_distribution)
            scores.append(r.ood_score)
    targets = np.array([predictor.labels.index(s.label) for s in samples])
    metrics = compute_metrics(np.array(probs), targets, predictor.labels, n_boot=n_boot)
    metrics["ood_flag_rate"] = float(np.mean(flags))
    metrics["checkpoint_sha256"] = predictor.checkpoint_sha256
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_confusion_matrix(metrics["confusion_matrix"], predictor.labels, out / "confusion_matrix.png")
        plot_reliability(np.array(probs), targets, out / "reliability.png")
        if predictor.metadata.get("history"):
            plot_training_curves(predictor.metadata["history"], out / "training_curves.png")
    return metrics
