"""Training augmentation for radiographs, separate from the shared eval preprocessing.

In the source data the classes differ in framing: normals are narrow spine columns (aspect
~4), scoliosis films show the whole torso (~2.5), spondylolisthesis films are lumbar-only
(~2.1), and scoliosis films often carry burnt-in text and Cobb lines. Each transform below
breaks one of those shortcuts so that the only stable cue left is the spine itself.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class RadiographTrainAugmentation:
    p_band_crop: float = 0.5  # crop to a vertical band around the midline (like a spine column)
    band_width: tuple[float, float] = (0.35, 0.9)
    p_height_crop: float = 0.5  # keep part of the height (like a lumbar-only film)
    height_keep: tuple[float, float] = (0.6, 1.0)
    p_pad: float = 0.5  # pad sideways/vertically (like a wider field of view)
    pad_fraction: tuple[float, float] = (0.05, 0.8)
    p_rotate: float = 0.7
    max_rotation_deg: float = 8.0
    p_flip: float = 0.5
    p_annotation: float = 0.35  # burnt-in text, markers and lines on every class
    p_blur: float = 0.2
    gamma: tuple[float, float] = (0.7, 1.5)
    contrast: tuple[float, float] = (0.85, 1.15)
    brightness: float = 0.08
    noise_std: float = 0.02

    def __call__(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        img = gray
        if rng.random() < self.p_band_crop:
            img = self._band_crop(img, rng)
        if rng.random() < self.p_height_crop:
            img = self._height_crop(img, rng)
        if rng.random() < self.p_pad:
            img = self._pad(img, rng)
        pil = Image.fromarray(img.astype(np.float32), mode="F")
        if rng.random() < self.p_rotate:
            angle = float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg))
            pil = pil.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=0.0)
        if rng.random() < self.p_flip:
            # A mirrored left-convex curve is a right-convex curve: still scoliosis. A mirrored
            # lateral lumbar view faces the other way: still spondylolisthesis. Our labels carry
            # no laterality, so the flip preserves them (it would not if curve side were a label).
            pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < self.p_annotation:
            pil = self._annotate(pil, rng)
        img = np.asarray(pil, dtype=np.float32)
        if rng.random() < self.p_blur:
            img = gaussian_filter(img, sigma=float(rng.uniform(0.5, 1.5)))
        return self._photometric(img, rng)

    def _band_crop(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape
        # Only crop films wider than a spine column; the band stays at least h/6 wide.
        width = max(int(w * rng.uniform(*self.band_width)), min(w, h // 6), 8)
        centre = w / 2 + rng.uniform(-0.08, 0.08) * w
        left = int(np.clip(centre - width / 2, 0, w - width))
        return img[:, left : left + width]

    def _height_crop(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, _ = img.shape
        keep = max(int(h * rng.uniform(*self.height_keep)), 8)
        top = int(rng.integers(0, h - keep + 1))
        return img[top : top + keep, :]

    def _pad(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape
        side = int(w * rng.uniform(*self.pad_fraction) / 2)
        vertical = int(h * rng.uniform(0, 0.15) / 2)
        # Mostly black (collimation), sometimes gray or white (scanned film borders).
        value = float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.6), 1.0]))
        return np.pad(img, ((vertical, vertical), (side, side)), constant_values=value)

    def _annotate(self, pil: Image.Image, rng: np.random.Generator) -> Image.Image:
        draw = ImageDraw.Draw(pil)
        w, h = pil.size
        for _ in range(int(rng.integers(1, 4))):
            value = float(rng.choice([1.0, rng.uniform(0.6, 1.0), 0.0]))
            x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            kind = rng.integers(0, 3)
            if kind == 0:
                text = "".join(rng.choice(list(string.ascii_uppercase + string.digits), size=int(rng.integers(1, 8))))
                draw.text((x, y), text, fill=value, font_size=int(rng.integers(8, max(9, h // 12))))
            elif kind == 1:  # Cobb-style line
                dx, dy = rng.uniform(-0.4, 0.4) * w, rng.uniform(-0.1, 0.1) * h
                draw.line((x, y, x + dx, y + dy), fill=value, width=int(rng.integers(1, 4)))
            else:  # side marker / ruler block
                s = float(rng.uniform(0.02, 0.08)) * min(w, h) + 2
                draw.rectangle((x, y, x + s, y + s * rng.uniform(1, 4)), fill=value)
        return pil

    def _photometric(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        img = np.clip(img, 0.0, 1.0) ** float(rng.uniform(*self.gamma))
        img = img * float(rng.uniform(*self.contrast)) + float(rng.uniform(-self.brightness, self.brightness))
        if self.noise_std:
            img = img + rng.normal(0, self.noise_std * rng.random(), img.shape).astype(np.float32)
        return np.clip(img, 0.0, 1.0).astype(np.float32)
