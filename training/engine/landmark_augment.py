"""Training augmentation for landmark films: geometry moves the landmarks with the pixels.

Separate from the shared preprocessing (``inference.engine.preprocessing``), which training and
serving both apply afterwards. The AASCE films are cropped tightly to T1-L5; clinical films
show the whole torso, so crops with wide random margins (and padding beyond the film) teach the
model to find the column anywhere in a wider field. Photometric changes, burnt-in text and
lines come from the classifier's augmentation with its geometric parts switched off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from inference.engine.landmark_model import MIRROR_CORNER_ORDER

from .augment import RadiographTrainAugmentation


def rotate_points(points: np.ndarray, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Where PIL's ``rotate(angle_deg, center=centre)`` (counter-clockwise on screen) moves points."""
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    dx, dy = points[:, 0] - centre[0], points[:, 1] - centre[1]
    return np.stack([centre[0] + dx * cos + dy * sin, centre[1] - dx * sin + dy * cos], axis=1)


def crop_with_padding(img: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """img[top:bottom, left:right], padded with black where the box leaves the film."""
    h, w = img.shape
    out = np.zeros((bottom - top, right - left), dtype=img.dtype)
    sy0, sy1, sx0, sx1 = max(top, 0), min(bottom, h), max(left, 0), min(right, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = img[sy0:sy1, sx0:sx1]
    return out


def flip_landmarks(points: np.ndarray, width: int) -> np.ndarray:
    flipped = points.copy()
    flipped[:, 0] = width - flipped[:, 0]
    return flipped.reshape(-1, 4, 2)[:, MIRROR_CORNER_ORDER].reshape(-1, 2)


@dataclass(frozen=True)
class LandmarkTrainAugmentation:
    p_rotate: float = 0.7
    max_rotation_deg: float = 10.0
    p_keep_framing: float = 0.25  # otherwise re-frame around the spine with random margins
    vertical_margin: tuple[float, float] = (0.01, 0.25)  # of the T1-L5 height, each end
    lateral_margin: tuple[float, float] = (0.6, 3.0)  # of the column's width, each side
    p_flip: float = 0.5
    appearance: RadiographTrainAugmentation = field(default_factory=lambda: RadiographTrainAugmentation(
        p_band_crop=0.0, p_height_crop=0.0, p_pad=0.0, p_rotate=0.0, p_flip=0.0, p_annotation=0.3))

    def __call__(self, gray: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(H, W) grayscale in [0, 1] and (68, 2) pixel landmarks -> augmented copies of both."""
        img, pts = gray, points.astype(np.float64)
        if rng.random() < self.p_rotate:
            angle = float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg))
            centre = (float(pts[:, 0].mean()), float(pts[:, 1].mean()))
            img = np.asarray(Image.fromarray(img.astype(np.float32), mode="F").rotate(
                angle, resample=Image.Resampling.BILINEAR, center=centre, fillcolor=0.0), dtype=np.float32)
            pts = rotate_points(pts, angle, centre)
        if rng.random() >= self.p_keep_framing:
            img, pts = self._reframe(img, pts, rng)
        if rng.random() < self.p_flip:
            img = np.ascontiguousarray(img[:, ::-1])
            pts = flip_landmarks(pts, img.shape[1])
        return self.appearance(img, rng), pts

    def _reframe(self, img: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        spine_h, spine_w = y1 - y0, max(x1 - x0, 1.0)
        top = int(math.floor(y0 - rng.uniform(*self.vertical_margin) * spine_h))
        bottom = int(math.ceil(y1 + rng.uniform(*self.vertical_margin) * spine_h))
        left = int(math.floor(x0 - rng.uniform(*self.lateral_margin) * spine_w / 2))
        right = int(math.ceil(x1 + rng.uniform(*self.lateral_margin) * spine_w / 2))
        shifted = pts - np.array([left, top], dtype=np.float64)
        return crop_with_padding(img, left, top, right, bottom), shifted
