"""Measurement overlay: vertebra outlines, the end vertebrae's endplate lines and the angles.

Drawn on the decoded (display-size) film, not at full resolution: it is a picture for a person,
and the landmarks themselves (in full-resolution pixels) go to any viewer that wants to draw
them sharper.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from .cobb import VERTEBRAE, CobbMeasurement

OUTLINE = (80, 200, 255)
ENDPLATE = (255, 170, 0)
TEXT = (255, 255, 255)


def _endplate(corners: np.ndarray, upper: bool, extend: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The upper (TL-TR) or lower (BL-BR) endplate, extended sideways so the angle reads."""
    a, b = (corners[0], corners[1]) if upper else (corners[2], corners[3])
    d = b - a
    return tuple(a - d * extend), tuple(b + d * extend)


def landmark_overlay_png(gray: np.ndarray, landmarks: np.ndarray, measurement: CobbMeasurement | None,
                         scale: tuple[float, float] = (1.0, 1.0)) -> bytes:
    """PNG of ``gray`` (H x W in [0, 1]) with ``landmarks`` (68, 2) drawn after scaling by ``scale``.

    ``scale`` maps landmark pixels to ``gray`` pixels (decoded size over original size).
    """
    image = Image.fromarray(np.clip(gray * 255, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    draw = ImageDraw.Draw(image)
    pts = np.asarray(landmarks, dtype=np.float64) * np.asarray(scale, dtype=np.float64)
    vertebrae = pts.reshape(len(VERTEBRAE), 4, 2)
    width = max(1, round(image.width / 300))
    for corners in vertebrae:
        tl, tr, bl, br = (tuple(c) for c in corners)
        draw.line([tl, tr, br, bl, tl], fill=OUTLINE, width=width)
    if measurement is not None:
        upper = vertebrae[VERTEBRAE.index(measurement.largest.upper)]
        lower = vertebrae[VERTEBRAE.index(measurement.largest.lower)]
        draw.line(_endplate(upper, True, 0.8), fill=ENDPLATE, width=width + 1)
        draw.line(_endplate(lower, False, 0.8), fill=ENDPLATE, width=width + 1)
        label = (f"Cobb {measurement.pt:.1f}\u00b0 {measurement.largest.upper}-{measurement.largest.lower}"
                 f"  (mt {measurement.mt:.1f}\u00b0, tl {measurement.tl:.1f}\u00b0)")
        size = max(10, image.height // 45)
        draw.text((4, 4), label, fill=TEXT, font_size=size, stroke_width=1, stroke_fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
