"""Grad-CAM through pytorch-grad-cam; hooks are registered and released inside one call."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import nn

from .preprocessing import CanvasBox


def gradcam_canvas(
    model: nn.Module, target_layer: nn.Module, batch: torch.Tensor, class_indices: list[int]
) -> np.ndarray:
    """Heat-maps (N, S, S) in [0, 1] on the model canvas.

    The ``with`` block releases the library's forward/backward hooks even if the call fails,
    so a long-lived worker does not accumulate hooks or activations.
    """
    # Imported here: the library pulls in OpenCV (~100 MB resident) that plain predictions never need.
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [ClassifierOutputTarget(i) for i in class_indices]
    with GradCAM(model=model, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=batch, targets=targets)
    return np.asarray(maps, dtype=np.float32)


def canvas_to_image(heatmap: np.ndarray, box: CanvasBox, size: tuple[int, int]) -> np.ndarray:
    """Cut the content box out of the canvas map and resize it to (width, height) = ``size``."""
    crop = heatmap[box.top : box.top + box.height, box.left : box.left + box.width]
    resized = Image.fromarray(np.ascontiguousarray(crop), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _jet(values: np.ndarray) -> np.ndarray:
    """Blue -> cyan -> yellow -> red colour map (avoids importing matplotlib in workers)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.concatenate([r, g, b], axis=-1)


def overlay_png(gray: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> bytes:
    """Colour heat-map blended over the grayscale image (both HxW, same shape), as PNG bytes."""
    colour = _jet(heatmap)
    base = np.repeat(gray[..., None], 3, axis=2)
    blended = (1 - alpha) * base + alpha * colour
    buffer = io.BytesIO()
    Image.fromarray((blended * 255).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)  # speed over size
    return buffer.getvalue()
