"""Framing perturbations used to measure whether a model reads the spine or the framing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw


def spine_band(gray: np.ndarray) -> np.ndarray:
    """Central vertical band a quarter of the height wide (a tight spine column)."""
    h, w = gray.shape
    width = min(w, max(8, h // 4))
    left = (w - width) // 2
    return gray[:, left : left + width]


def _pad_to_aspect(gray: np.ndarray, height_over_width: float) -> np.ndarray:
    h, w = gray.shape
    target_w = int(h / height_over_width)
    if target_w <= w:
        target_h = int(w * height_over_width)
        extra = max(0, target_h - h)
        return np.pad(gray, ((extra // 2, extra - extra // 2), (0, 0)))
    extra = target_w - w
    return np.pad(gray, ((0, 0), (extra // 2, extra - extra // 2)))


def pad_square(gray: np.ndarray) -> np.ndarray:
    return _pad_to_aspect(gray, 1.0)


def pad_aspect_2(gray: np.ndarray) -> np.ndarray:
    return _pad_to_aspect(gray, 2.0)


def white_border(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    b = max(2, int(0.05 * max(h, w)))
    return np.pad(gray, b, constant_values=1.0)


def burnt_in_text(gray: np.ndarray) -> np.ndarray:
    pil = Image.fromarray(gray.astype(np.float32), mode="F")
    draw = ImageDraw.Draw(pil)
    w, h = pil.size
    size = max(8, h // 25)
    draw.text((4, 4), "R  STANDING", fill=1.0, font_size=size)
    draw.text((4, h - 2 * size), "PA 2019-03-11", fill=1.0, font_size=size)
    draw.line((w * 0.2, h * 0.3, w * 0.8, h * 0.35), fill=1.0, width=2)
    return np.asarray(pil, dtype=np.float32)


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "spine_band": spine_band,
    "pad_square": pad_square,
    "pad_aspect_2": pad_aspect_2,
    "white_border": white_border,
    "burnt_in_text": burnt_in_text,
}
