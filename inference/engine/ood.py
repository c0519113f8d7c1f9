"""Out-of-distribution score: Mahalanobis distance on pooled penultimate features.

Class means with one shared (Ledoit-Wolf shrunk) covariance, fitted on training images; the
score of an image is its distance to the nearest class mean. Photos, screenshots, noise and
other body parts land far from every spine class even when the softmax is confident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class MahalanobisOOD:
    means: torch.Tensor  # (classes, features)
    precision: torch.Tensor  # (features, features)
    threshold: float

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, num_classes: int) -> MahalanobisOOD:
        from sklearn.covariance import LedoitWolf  # imported lazily: only training fits

        feats = np.asarray(features, dtype=np.float64)
        means = np.stack([feats[labels == c].mean(axis=0) for c in range(num_classes)])
        centred = feats - means[labels]
        precision = LedoitWolf(assume_centered=True).fit(centred).precision_
        return cls(
            torch.from_numpy(means.astype(np.float32)),
            torch.from_numpy(precision.astype(np.float32)),
            threshold=float("inf"),
        )

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Distance to the nearest class mean, one value per row."""
        feats = features.detach().to(torch.float32)
        diff = feats[:, None, :] - self.means[None, :, :]
        sq = torch.einsum("bcf,fg,bcg->bc", diff, self.precision, diff)
        return sq.clamp_min(0).sqrt().min(dim=1).values

    def to_state(self) -> dict[str, torch.Tensor | float]:
        return {"means": self.means, "precision": self.precision, "threshold": self.threshold}

    @classmethod
    def from_state(cls, state: dict) -> MahalanobisOOD:
        return cls(state["means"].float(), state["precision"].float(), float(state["threshold"]))
