"""A tiny AASCE-shaped folder (labels.csv + synthetic films with known corners) for landmark runs."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from inference.engine.cobb import cobb_angles
from tests.engine.landmark_fixtures import synthetic_film

# Hyper-parameters a landmark run can finish in seconds with: no augmentation, every stage trained,
# a canvas where the 17 synthetic vertebrae are more than one stride apart.
TINY_LANDMARK_HYPERPARAMETERS = {
    "minutes": 5.0, "max_epochs": 80, "input_size": 256, "input_width": 96, "head_width": 16,
    "batch_size": 2, "learning_rate": 5e-3, "val_fraction": 0.0, "seed": 0, "warmup_steps": 1,
    "freeze_stages": 0, "augment": False,
}


def film_row(root: Path, seed: int, group: str, fold: int) -> dict:
    gray, pts = synthetic_film(seed)
    h, w = gray.shape
    name = f"images/{group}-{seed}.png"
    Image.fromarray((gray * 255).astype(np.uint8)).save(root / name)
    m = cobb_angles(pts, image_height=h)
    row = {"file": name, "group": group, "fold": fold, "md5": "", "cobb_pt": m.pt, "cobb_mt": m.mt, "cobb_tl": m.tl}
    row.update({f"x{i}": pts[i, 0] / w for i in range(68)})
    row.update({f"y{i}": pts[i, 1] / h for i in range(68)})
    return row


def make_landmark_folder(root: Path, train_seeds=(0, 1, 2, 3), evaluation_seeds=(0, 1)) -> Path:
    """Training films in folds 1-4; fold 0 (the evaluation part) holds films drawn with the seeds
    of `evaluation_seeds`. With the defaults those are the training films' own pictures under other
    patients: a model trained for seconds measures films it has seen, not new ones, and these tests
    judge the platform's wiring (data, gate, registry), not the model's generalisation."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = [film_row(root, s, f"p{s}", 1 + i % 4) for i, s in enumerate(train_seeds)]
    rows += [film_row(root, s, f"e{s}", 0) for s in evaluation_seeds]
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
