from __future__ import annotations

import io

import numpy as np
from PIL import Image

from inference.engine import Predictor
from tests.images import png_bytes

from .conftest import synthetic_spine


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


def test_gradcam_heatmap_has_image_resolution_and_unit_range(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    image = synthetic_spine(True, 40, size=(300, 90))
    result = predictor.predict(png_bytes(pixels=image), gradcam=True)
    assert result.heatmap.shape == image.shape
    assert result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    overlay = Image.open(io.BytesIO(result.overlay_png))
    assert overlay.format == "PNG" and overlay.size == (90, 300)
    assert "gradcam" in result.timings_ms


def test_gradcam_releases_hooks_after_100_calls(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    before = _hook_count(predictor.model)
    image = synthetic_spine(False, 41, size=(96, 32))
    for _ in range(100):
        predictor.predict(image, gradcam=True)
    assert _hook_count(predictor.model) == before == 0
    assert all(p.grad is None for p in predictor.model.parameters())
