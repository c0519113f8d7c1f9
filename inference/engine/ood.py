"""Out-of-distribution scores: two Mahalanobis detectors, each with its own threshold.

1. Semantic (`MahalanobisOOD`): pooled penultimate features, class means with one shared
   (Ledoit-Wolf shrunk) covariance; the distance to the nearest class mean. Catches images whose
   content is unlike any spine class even when the softmax is confident.
   A landmark model can score its pooled deepest features with `NearestFilmsOOD` instead (its
   training config's ``ood_neighbours``): the whitened distance to the nearest training films.
2. Style (`StyleOOD`): per-channel mean and spread of an early, ImageNet-frozen stage, one
   Gaussian fitted on training films and augmented copies of them. Catches images whose texture
   is not a radiograph's (photos, screenshots, noise, CT/MR slices) even where the semantic
   features happen to land near a class.

3. Confidence floor (only for models trained with outlier exposure, which teaches the network a
   near-uniform answer on spine-free radiograph regions): flags an image whose largest calibrated
   probability is below the floor.

`OODDetector` reports one score, the largest of the detectors' scores each divided by its
threshold: above 1.0 means out of distribution.
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


@dataclass
class NearestFilmsOOD:
    """Mean distance to the ``k`` nearest training films, in features whitened by the films' shrunk
    covariance (the Gaussian of `MahalanobisOOD`, kept for its metric only).

    A film of a rare but real kind (a severe curve) lies near the few training films like it and
    far from the centre; a film of a kind never trained on lies far from all of them.
    """

    centre: torch.Tensor  # (features,)
    whitening: torch.Tensor  # (features, features): whitening @ whitening.T is the precision
    reference: torch.Tensor  # (films, features): the training films, whitened
    k: int

    @classmethod
    def fit(cls, features: np.ndarray, k: int) -> NearestFilmsOOD:
        feats = np.asarray(features, dtype=np.float64)
        if k < 1 or not len(feats):
            raise ValueError(f"the nearest-films distance needs k >= 1 (got {k}) and fit films (got {len(feats)})")
        k = min(k, len(feats))  # a handful of films (a test run): all of them
        gauss = MahalanobisOOD.fit(feats, np.zeros(len(feats), dtype=int), 1)
        centre, precision = gauss.means[0].double().numpy(), gauss.precision.double().numpy()
        # A square root of the precision (whitening @ whitening.T == precision), also where a
        # handful of films leaves it only semi-definite.
        values, vectors = np.linalg.eigh((precision + precision.T) / 2)
        whitening = vectors * np.sqrt(np.clip(values, 0, None))
        return cls(torch.from_numpy(centre.astype(np.float32)), torch.from_numpy(whitening.astype(np.float32)),
                   torch.from_numpy(((feats - centre) @ whitening).astype(np.float32)), int(k))

    def score(self, features: torch.Tensor) -> torch.Tensor:
        query = (features.detach().to(torch.float32) - self.centre) @ self.whitening
        nearest = torch.cdist(query, self.reference).topk(self.k, dim=1, largest=False).values
        return nearest.mean(dim=1)

    def to_state(self) -> dict[str, torch.Tensor | float]:
        return {"centre": self.centre, "whitening": self.whitening, "reference": self.reference, "k": float(self.k)}

    @classmethod
    def from_state(cls, state: dict) -> NearestFilmsOOD:
        return cls(state["centre"].float(), state["whitening"].float(), state["reference"].float(), int(state["k"]))


def feature_ood_from_state(state: dict) -> MahalanobisOOD | NearestFilmsOOD:
    """A landmark checkpoint's OOD scorer: nearest films where it stores them, else the Gaussian."""
    return NearestFilmsOOD.from_state(state) if "reference" in state else MahalanobisOOD.from_state(state)


@dataclass
class StyleOOD:
    mean: torch.Tensor  # (features,)
    precision: torch.Tensor  # (features, features)
    threshold: float

    @classmethod
    def fit(cls, descriptors: np.ndarray) -> StyleOOD:
        from sklearn.covariance import LedoitWolf  # imported lazily: only training fits

        feats = np.asarray(descriptors, dtype=np.float64)
        lw = LedoitWolf().fit(feats)
        return cls(torch.from_numpy(lw.location_.astype(np.float32)),
                   torch.from_numpy(lw.precision_.astype(np.float32)), threshold=float("inf"))

    def score(self, descriptors: torch.Tensor) -> torch.Tensor:
        diff = descriptors.detach().to(torch.float32) - self.mean[None, :]
        return torch.einsum("bf,fg,bg->b", diff, self.precision, diff).clamp_min(0).sqrt()

    def to_state(self) -> dict[str, torch.Tensor | float]:
        return {"style_mean": self.mean, "style_precision": self.precision, "style_threshold": self.threshold}

    @classmethod
    def from_state(cls, state: dict) -> StyleOOD | None:
        if "style_mean" not in state:  # checkpoints made before the style detector existed
            return None
        return cls(state["style_mean"].float(), state["style_precision"].float(), float(state["style_threshold"]))


@dataclass
class OODDetector:
    semantic: MahalanobisOOD
    style: StyleOOD | None = None
    confidence_floor: float | None = None  # flag when the top calibrated probability is below it

    @property
    def threshold(self) -> float:
        """Scores are relative to each detector's own threshold: 1.0 is the boundary."""
        return 1.0

    def score(self, features: torch.Tensor, style: torch.Tensor | None = None,
              probabilities: torch.Tensor | None = None) -> torch.Tensor:
        relative = self.semantic.score(features) / max(self.semantic.threshold, 1e-12)
        if self.style is not None and style is not None:
            relative = torch.maximum(relative, self.style.score(style) / max(self.style.threshold, 1e-12))
        if self.confidence_floor is not None and probabilities is not None:
            # 1 - top probability, over 1 - floor: above 1.0 exactly when top < floor.
            doubt = (1 - probabilities.max(dim=1).values) / max(1 - self.confidence_floor, 1e-12)
            relative = torch.maximum(relative, doubt)
        return relative

    def to_state(self) -> dict[str, torch.Tensor | float]:
        floor = {"confidence_floor": self.confidence_floor} if self.confidence_floor is not None else {}
        return {**self.semantic.to_state(), **(self.style.to_state() if self.style else {}), **floor}

    @classmethod
    def from_state(cls, state: dict) -> OODDetector:
        floor = state.get("confidence_floor")
        return cls(MahalanobisOOD.from_state(state), StyleOOD.from_state(state),
                   float(floor) if floor is not None else None)
