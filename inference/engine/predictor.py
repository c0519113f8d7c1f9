"""Predictor: load a checkpoint once, classify radiographs with calibrated probabilities."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint
from .gradcam import canvas_to_image, gradcam_canvas, overlay_png
from .model import create_model, forward_with_style, gradcam_target_layer
from .ood import OODDetector
from .preprocessing import (
    DecodedImage,
    ImageSource,
    PreprocessParams,
    decode_image,
    preprocess_with_box,
)


@dataclass
class PredictionResult:
    label: str
    probabilities: dict[str, float]
    confidence: float
    ood_score: float
    out_of_distribution: bool
    heatmap: np.ndarray | None = None
    overlay_png: bytes | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no heat-map arrays)."""
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "out_of_distribution": self.out_of_distribution,
            "ood_score": self.ood_score,
        }


class Predictor:
    """Holds one model in eval mode; thread-unsafe by design (one per worker process)."""

    def __init__(self, model: torch.nn.Module, ood: OODDetector, metadata: dict[str, Any], sha256: str):
        self.model = model.eval()
        for p in model.parameters():
            p.requires_grad_(False)  # Grad-CAM only needs gradients w.r.t. activations, not weights
        self.ood = ood
        self.metadata = metadata
        self.checkpoint_sha256 = sha256
        self.labels: list[str] = list(metadata["labels"])
        self.temperature = float(metadata.get("temperature", 1.0))
        self.params = PreprocessParams.from_dict(metadata["preprocessing"])

    @classmethod
    def from_checkpoint(cls, source: str | os.PathLike | IO[bytes] | bytes, num_threads: int | None = None) -> Predictor:
        if num_threads:
            torch.set_num_threads(num_threads)
        loaded = load_checkpoint(source)
        meta = loaded.metadata
        try:
            model = create_model(meta["architecture"], num_classes=len(meta["labels"]), pretrained=False)
            model.load_state_dict(loaded.state_dict, strict=True)
            ood = OODDetector.from_state(loaded.ood_state)
            PreprocessParams.from_dict(meta["preprocessing"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint does not match its declared architecture/labels: {exc}") from exc
        return cls(model, ood, meta, loaded.sha256)

    def predict(self, image: ImageSource, gradcam: bool = False) -> PredictionResult:
        return self.predict_batch([image], gradcam=gradcam)[0]

    def predict_batch(self, images: Sequence[ImageSource], gradcam: bool = False) -> list[PredictionResult]:
        """Classify several images; an undecodable one raises ImageDecodeError for the batch."""
        t0 = time.perf_counter()
        decoded = [decode_image(img, self.params.decode_max_side) for img in images]
        prepared = [preprocess_with_box(d.pixels, self.params) for d in decoded]
        batch = torch.stack([t for t, _ in prepared])
        t1 = time.perf_counter()
        with torch.inference_mode():
            logits, features, style = forward_with_style(self.model, batch)
            probs = torch.softmax(logits / self.temperature, dim=1)
            scores = self.ood.score(features, style, probs)
        t2 = time.perf_counter()
        results = [self._result(p, float(s)) for p, s in zip(probs, scores, strict=True)]
        for r in results:
            r.timings_ms = {"preprocess": (t1 - t0) * 1000 / len(images), "inference": (t2 - t1) * 1000 / len(images)}
        if gradcam:
            self._attach_gradcam(results, batch, decoded, [b for _, b in prepared])
        return results

    def _result(self, probs: torch.Tensor, score: float) -> PredictionResult:
        values = probs.tolist()
        best = int(np.argmax(values))
        return PredictionResult(
            label=self.labels[best],
            probabilities={label: float(v) for label, v in zip(self.labels, values, strict=True)},
            confidence=float(values[best]),
            ood_score=score,
            out_of_distribution=bool(score > self.ood.threshold),
        )

    def _attach_gradcam(self, results: list[PredictionResult], batch: torch.Tensor, decoded: list[DecodedImage], boxes: list) -> None:
        t0 = time.perf_counter()
        targets = [self.labels.index(r.label) for r in results]
        # Weights are frozen; a grad-requiring input lets gradients reach the activations only.
        maps = gradcam_canvas(self.model, gradcam_target_layer(self.model), batch.clone().requires_grad_(True), targets)
        t1 = time.perf_counter()
        for r, cam, dec, box in zip(results, maps, decoded, boxes, strict=True):
            t2 = time.perf_counter()
            r.heatmap = canvas_to_image(cam, box, dec.original_size)
            # The overlay is drawn at the decoded (display) size, not from the full-size map.
            display = canvas_to_image(cam, box, (dec.pixels.shape[1], dec.pixels.shape[0]))
            r.overlay_png = overlay_png(dec.pixels, display)
            r.timings_ms["gradcam"] = (t1 - t0) * 1000 / len(results)
            r.timings_ms["heatmap_overlay"] = (time.perf_counter() - t2) * 1000
