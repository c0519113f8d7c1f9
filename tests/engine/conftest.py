"""Engine test fixtures: synthetic radiograph-like images and one tiny trained checkpoint.

No database and no network. The tiny model is an un-pretrained Lite0 at 64 px trained for a
couple of epochs on synthetic "spines"; it exists to exercise the plumbing, not to be accurate.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.images import png_bytes
from training.engine import Sample, TrainConfig, train_model

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("SPINE_DATA_DIR", REPO.parent / "shared" / "data" / "fraiwan"))


requires_data = pytest.mark.skipif(
    not (data_dir() / "manifest.csv").is_file(),
    reason=f"labelled data not found at {data_dir()} (set SPINE_DATA_DIR)",
)


DEFAULT_MODEL = REPO / "models" / "default.pt"
requires_default_model = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="models/default.pt not trained yet")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    torch.set_num_threads(int(os.environ.get("ENGINE_TEST_THREADS", "2")))
    torch.manual_seed(0)


def synthetic_spine(curved: bool, seed: int, size: tuple[int, int] = (240, 80)) -> np.ndarray:
    """A dark film with a column of bright 'vertebrae'; curved columns stand in for scoliosis."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = rng.normal(30, 6, size).clip(0, 255)
    for i, y in enumerate(range(10, h - 10, 16)):
        shift = int(0.25 * w * np.sin(np.pi * i / 12)) if curved else 0
        x = w // 2 + shift + int(rng.integers(-2, 3))
        img[y : y + 11, max(0, x - 9) : x + 9] = 200 + rng.normal(0, 8)
    return img.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def synthetic_samples() -> list[Sample]:
    samples = []
    for i in range(8):
        label = "curved" if i % 2 else "straight"
        data = png_bytes(pixels=synthetic_spine(bool(i % 2), i))
        # Mix bytes and callables: retraining passes storage readers, not paths.
        samples.append(Sample(data if i < 4 else (lambda d=data: d), label, group=f"p{i // 2}"))
    return samples


@pytest.fixture(scope="session")
def tiny_training(synthetic_samples):
    config = TrainConfig(input_size=64, epochs=3, batch_size=4, lr=3e-3, pretrained=False, freeze_stages=0,
                         warmup_epochs=0, ood_margin=1.5)
    buffer = io.BytesIO()
    result = train_model(synthetic_samples, synthetic_samples[:4], config, checkpoint=buffer)
    return result, buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_training) -> bytes:
    return tiny_training[1]


@pytest.fixture
def tiny_checkpoint_path(tiny_checkpoint, tmp_path) -> Path:
    path = tmp_path / "tiny.pt"
    path.write_bytes(tiny_checkpoint)
    return path
