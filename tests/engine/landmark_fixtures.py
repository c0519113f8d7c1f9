"""Shared landmark fixtures: synthetic AP films with known corners and one tiny trained model."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests.images import png_bytes
from training.engine.landmarks import LandmarkSample, LandmarkTrainConfig, train_landmarks

from .test_cobb_geometry import synthetic_landmarks


def synthetic_film(seed: int, size=(320, 140)) -> tuple[np.ndarray, np.ndarray]:
    """Bright tilted vertebrae on a dark, noisy film, and their 68 corners in its pixels."""
    rng = np.random.default_rng(seed)
    h, w = size
    tilts = np.interp(range(17), [0, 8, 16], rng.uniform(-12, 12, 3))
    lateral = rng.uniform(-12, 12) * np.sin(np.pi * np.arange(17) / 16)
    pts = synthetic_landmarks(tilts, lateral, width=34, height=12, gap=4.5, top=18, x0=w / 2)
    image = Image.fromarray((rng.normal(25, 6, size)).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for quad in pts.reshape(17, 4, 2):
        draw.polygon([tuple(quad[0]), tuple(quad[1]), tuple(quad[3]), tuple(quad[2])], fill=210)
    return np.asarray(image, dtype=np.float32) / 255, pts


def film_sample(seed: int) -> LandmarkSample:
    gray, pts = synthetic_film(seed)
    h, w = gray.shape
    return LandmarkSample(png_bytes(pixels=(gray * 255).astype(np.uint8)), pts / [w, h], group=f"p{seed}", fold=seed % 5)


# A step budget far beyond max_epochs keeps the learning rate at its peak whatever the CPU load:
# by the wall clock, a test's model would depend on how busy the machine is.
TINY = dict(input_size=128, input_width=64, head_width=16, batch_size=2, lr=5e-3, warmup_steps=1,
            time_budget_s=900.0, max_steps=1_000_000, pretrained=False, freeze_stages=0, val_fraction=0.0,
            seed=0, augment=False)


@pytest.fixture(scope="session", name="tiny_landmark_run")
def tiny_landmark_run_fixture():
    # One thread: on a busy shared CPU, OpenMP threads spin-waiting on each other cost far
    # more than this tiny model's arithmetic.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        samples = [film_sample(s) for s in range(2)]
        buffer = io.BytesIO()
        result = train_landmarks(samples, LandmarkTrainConfig(max_epochs=30, **TINY), checkpoint=buffer)
        return samples, result, buffer.getvalue()
    finally:
        torch.set_num_threads(threads)
