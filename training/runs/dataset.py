"""Build the training and evaluation samples before the engine runs.

Everything here happens before the training loop starts: the loop itself never touches the ORM.
Confirmed radiographs become engine `Sample`s whose source is a closure reading Django storage.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models import Count

from cases.models import UNGRADABLE, Radiograph


@dataclass
class TrainingData:
    train: list = field(default_factory=list)
    evaluation: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    base_per_class: dict = field(default_factory=dict)
    confirmed_per_class: dict = field(default_factory=dict)


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
        data.base_per_class[sample.label] = data.base_per_class.get(sample.label, 0) + 1
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
        data.confirmed_per_class[sample.label] = data.confirmed_per_class.get(sample.label, 0) + 1
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


def min_films_per_class() -> int:
    return int(getattr(settings, "TRAINING_MIN_FILMS_PER_CLASS", 20))


def training_data_problems(
    *, base_counts: dict[str, int], confirmed_counts: dict[str, int], base_dir: str,
    required_labels: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Why these films cannot make a model a clinic should use, each naming the setting to fix.

    1. The base data folder (TRAINING_BASE_DATA_DIR) must exist and hold films: without it a run
       trains on a handful of confirmed films and nothing holds it to the shipped model's level.
    2. Every class (those found, and those of the model the run starts from, so no class is
       silently dropped) needs TRAINING_MIN_FILMS_PER_CLASS films, base data and confirmed.
    3. At least two classes.
    """
    problems: list[str] = []
    if not base_counts:
        where = "is missing" if not Path(base_dir).is_dir() else "holds no class folder with films"
        problems.append(
            f"The base data folder {base_dir} {where}. Set TRAINING_BASE_DATA_DIR to a folder "
            "with one sub-folder of JPEG/PNG films per class."
        )
    minimum = min_films_per_class()
    labels = sorted(set(base_counts) | set(confirmed_counts) | set(required_labels))
    short = [
        f"{label} {base_counts.get(label, 0) + confirmed_counts.get(label, 0)} "
        f"({base_counts.get(label, 0)} base, {confirmed_counts.get(label, 0)} confirmed)"
        for label in labels
        if base_counts.get(label, 0) + confirmed_counts.get(label, 0) < minimum
    ]
    if short:
        problems.append(
            f"Every class needs at least {minimum} films (TRAINING_MIN_FILMS_PER_CLASS); too few: "
            + "; ".join(short) + ". Add films to TRAINING_BASE_DATA_DIR or confirm more radiographs."
        )
    if len([label for label in labels if base_counts.get(label) or confirmed_counts.get(label)]) < 2:
        problems.append("Training needs films of at least two classes (TRAINING_BASE_DATA_DIR).")
    return problems


def confirmed_counts_per_class() -> dict[str, int]:
    rows = confirmed_radiographs().order_by().values("confirmed_label").annotate(n=Count("pk"))
    return {row["confirmed_label"]: row["n"] for row in rows}


def training_data_problems_now(*, required_labels: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`training_data_problems` of the data a run started now would use; counts files, reads no pixel."""
    from training.engine.folders import class_counts_in_folder

    base_dir = str(settings.TRAINING_BASE_DATA_DIR)
    return training_data_problems(
        base_counts=class_counts_in_folder(base_dir),
        confirmed_counts=confirmed_counts_per_class(),
        base_dir=base_dir,
        required_labels=required_labels,
    )


def training_data_check(*, required_labels: list[str] | tuple[str, ...] = ()) -> None:
    """Refuse (ValidationError) data a run must not start on."""
    problems = training_data_problems_now(required_labels=required_labels)
    if problems:
        raise ValidationError(problems)
