"""The films a landmark training run learns from and is judged on, collected before training.

1. The shared AASCE folder (`TRAINING_LANDMARK_DATA_DIR`: labels.csv + images): films of fold
   `TRAINING_LANDMARK_EVALUATION_FOLD` (default 0, patient-grouped by the data's own `fold`
   column) form the fixed evaluation part; the other folds train.
2. Every film a reviewer corrected: its latest correction's landmarks are the label. Patients
   whose group hashes below `TRAINING_LANDMARK_CORRECTED_EVALUATION_SHARE` are held out for
   evaluation, all their films together; a patient never moves between the two sides.

The training loop never touches the ORM: corrected films become engine samples whose image is
read from Django storage by a closure.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from training.runs.dataset import _storage_reader, patient_group


class LandmarkDataMissing(Exception):
    """The shared landmark data folder is absent: a landmark run cannot start."""


@dataclass
class LandmarkTrainingData:
    train: list = field(default_factory=list)
    evaluation: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def landmark_data_dir() -> Path:
    return Path(settings.TRAINING_LANDMARK_DATA_DIR)


def landmark_data_check() -> Path:
    """The data folder, or LandmarkDataMissing with a message an admin can act on."""
    root = landmark_data_dir()
    if not (root / "labels.csv").is_file():
        raise LandmarkDataMissing(
            f"The landmark training data is missing: no labels.csv in {root}. Put the AASCE folder "
            "there (../shared/data/aasce) or point TRAINING_LANDMARK_DATA_DIR at it."
        )
    return root


def evaluation_fold() -> int:
    return int(getattr(settings, "TRAINING_LANDMARK_EVALUATION_FOLD", 0))


def corrected_group_in_evaluation(group: str) -> bool:
    """Deterministic by patient: the corrected part of the evaluation set never reshuffles."""
    share = float(getattr(settings, "TRAINING_LANDMARK_CORRECTED_EVALUATION_SHARE", 0.2))
    digest = hashlib.sha256(f"landmark-evaluation-set:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def corrected_landmark_samples() -> list:
    """One sample per corrected film (its latest correction), without films that may carry
    identifying text no admin has cleared. The reference angles are the server's own, computed
    from the corrected landmarks when the correction was saved."""
    from reviews.selectors import measurement_corrections_latest_per_radiograph
    from training.engine import LandmarkSample

    samples = []
    for correction in measurement_corrections_latest_per_radiograph():
        radiograph = correction.radiograph
        size = np.array([radiograph.width, radiograph.height], dtype=np.float64)
        samples.append(LandmarkSample(
            image=_storage_reader(radiograph.image.name),
            points=np.asarray(correction.landmarks, dtype=np.float64) / size,
            group=patient_group(radiograph),
            angles=(correction.cobb_pt, correction.cobb_mt, correction.cobb_tl),
        ))
    return samples


def landmark_training_data_collect() -> LandmarkTrainingData:
    from training.engine import samples_from_labels_csv

    root = landmark_data_check()
    fold = evaluation_fold()
    data = LandmarkTrainingData()
    base = samples_from_labels_csv(root)
    for sample in base:
        (data.evaluation if sample.fold == fold else data.train).append(sample)
    base_evaluation = len(data.evaluation)
    corrected = corrected_landmark_samples()
    corrected_evaluation = 0
    for sample in corrected:
        if corrected_group_in_evaluation(sample.group):
            data.evaluation.append(sample)
            corrected_evaluation += 1
        else:
            data.train.append(sample)
    data.counts = {
        "base_dir": str(root),
        "evaluation_fold": fold,
        "base_train": len(base) - base_evaluation,
        "base_evaluation": base_evaluation,
        "corrected_train": len(corrected) - corrected_evaluation,
        "corrected_evaluation": corrected_evaluation,
        "train": len(data.train),
        "evaluation": len(data.evaluation),
    }
    return data
