"""Tiny synthetic spine-like datasets for training tests: a few dozen small PNGs, made here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.images import png_bytes

LABELS = ["normal", "scoliosis", "spondylolisthesis"]


def class_pixels(label: str, seed: int, size: tuple[int, int] = (64, 80)) -> np.ndarray:
    """Each class has its own texture, so one or two epochs separate them."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    period = 8 + int(rng.integers(0, 3))
    if label == "normal":
        pattern = (x // period) % 2
    elif label == "scoliosis":
        pattern = (y // period) % 2
    else:
        pattern = ((x // period) + (y // period)) % 2
    pixels = 40 + 170 * pattern + rng.integers(0, 30, size=(h, w))
    return pixels.astype(np.uint8)


def png(label: str, seed: int) -> bytes:
    return png_bytes(pixels=class_pixels(label, seed))


def make_base_folder(root: Path, per_class: int = 14, labels: list[str] | None = None) -> Path:
    for c, label in enumerate(labels or LABELS):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / f"{label}-{i:03d}.png").write_bytes(png(label, seed=1000 * c + i))
    return root
