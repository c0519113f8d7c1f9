"""Judge a landmark checkpoint on held-out films: what the platform's landmark gate reads.

Two figures decide (``training.runs.gate``): the mean absolute error of the largest Cobb angle
on the films the model measured, and the share of films it measured at all. A model cannot buy
a lower error by refusing the hard films: the measured share is judged beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from inference.engine.landmark_predictor import LandmarkPredictor
from inference.engine.preprocessing import ImageDecodeError

from .landmarks import LandmarkSample


def smape(predicted: Sequence[float], reference: Sequence[float]) -> float:
    """The challenge's per-film symmetric error of the three angles, in percent."""
    p, r = np.asarray(predicted, dtype=float), np.asarray(reference, dtype=float)
    denominator = float((p + r).sum())
    return 0.0 if denominator <= 0 else float(np.abs(p - r).sum() / denominator * 100.0)


def evaluate_landmark_predictor(predictor: LandmarkPredictor, samples: Sequence[LandmarkSample]) -> dict[str, Any]:
    """1. measure every film as serving does (same decode, preprocessing and not-measured checks);
    2. the largest angle's absolute error and the three angles' SMAPE on the films measured that
       carry reference angles; 3. the measured share over all films, with each reason counted.
    A film that cannot be decoded counts as not measured ("unreadable")."""
    errors: list[float] = []
    smapes: list[float] = []
    reasons: Counter[str] = Counter()
    for sample in samples:
        try:
            result = predictor.measure(sample.read())
        except ImageDecodeError:
            reasons["unreadable"] += 1
            continue
        if result.measurement is None:
            reasons[result.not_measured or "not measured"] += 1
            continue
        if sample.angles is None:
            continue
        m = result.measurement
        errors.append(abs(m.pt - sample.angles[0]))
        smapes.append(smape((m.pt, m.mt, m.tl), sample.angles))
    n = len(samples)
    measured = n - sum(reasons.values())
    return {
        "n": n,
        "measured": measured,
        "measured_share": measured / n if n else None,
        "largest_mae": float(np.mean(errors)) if errors else None,
        "largest_mae_n": len(errors),
        "smape": float(np.mean(smapes)) if smapes else None,
        "not_measured_reasons": dict(reasons),
    }
