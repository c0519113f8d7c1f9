"""Build the training and evaluation samples before the engine runs.

Everything here happens before the training loop starts: the loop itself never touches the ORM.
Confirmed radiographs become engine `Sample`s whose source is a closure reading Django storage.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from cases.models import UNGRADABLE, Radiograph


@dataclass
class TrainingData:
    train: list = field(default_factory=list)
    evaluation: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def base_evaluation_share() -> float:
    return float(getattr(settings, "TRAINING_BASE_EVALUATION_SHARE", 0.2))


def group_in_base_evaluation_set(group: str) -> bool:
    """Deterministic, patient-grouped: a group always lands on the same side, whatever else is
    in the folder, so the base part of the evaluation set never reshuffles."""
    digest = hashlib.sha256(f"base-evaluation-set:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < base_evaluation_share()


def sample_in_base_evaluation_set(sample) -> bool:
    """Whether a base-folder sample belongs to the fixed evaluation set (by its patient group)."""
    return group_in_base_evaluation_set(sample.group or str(sample.source))


def _storage_reader(name: str):
    def read() -> bytes:
        with default_storage.open(name, "rb") as handle:
            return handle.read()

    return read


def confirmed_radiographs():
    """Radiographs with a confirmed, gradable label (what retraining and export use), without
    films that may have identifying text burned in and that no admin has cleared."""
    return (
        Radiograph.objects.free_of_burned_in_text()
        .exclude(confirmed_label="")
        .exclude(confirmed_label=UNGRADABLE)
        .select_related("case")
        .order_by("pk")
    )


def patient_group(radiograph: Radiograph) -> str:
    # Grouped by patient: two films of one patient never sit on both sides of a split.
    return f"patient:{radiograph.case.patient_reference}"


def training_data_collect(*, base_dir: str | None = None) -> TrainingData:
    """1. base data folder (if present), split by a hash of its group;
    2. confirmed radiographs, split by their `in_evaluation_set` flag (set when first confirmed).
    """
    from training.engine import Sample, samples_from_folder

    data = TrainingData()
    root = Path(base_dir if base_dir is not None else settings.TRAINING_BASE_DATA_DIR)
    base = samples_from_folder(root) if root.is_dir() else []
    for sample in base:
        side = data.evaluation if sample_in_base_evaluation_set(sample) else data.train
        side.append(sample)
    n_base_eval = len(data.evaluation)
    confirmed_train = confirmed_eval = 0
    radiographs = list(confirmed_radiographs())
    # A patient with any held-out film is held out entirely, so no patient straddles the split.
    held_out_groups = {patient_group(r) for r in radiographs if r.in_evaluation_set}
    for radiograph in radiographs:
        sample = Sample(
            source=_storage_reader(radiograph.image.name),
            label=radiograph.confirmed_label,
            group=patient_group(radiograph),
        )
        if sample.group in held_out_groups:
            data.evaluation.append(sample)
            confirmed_eval += 1
        else:
            data.train.append(sample)
            confirmed_train += 1
    data.counts = {
        "base_dir": str(root),
        "base_train": len(base) - n_base_eval,
        "base_evaluation": n_base_eval,
        "confirmed_train": confirmed_train,
        "confirmed_evaluation": confirmed_eval,
        "train": len(data.train),
        "evaluation": len(data.evaluation),
    }
    return data
