"""Samples and datasets: files, bytes or callables (Django storage) with a label and a group."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from inference.engine.preprocessing import PreprocessParams, load_image, preprocess

# DEFAULT_LABEL_MAP and IMAGE_SUFFIXES stay importable from here (training.engine exports them).
from training.engine.folders import DEFAULT_LABEL_MAP, IMAGE_SUFFIXES, folder_label, image_files  # noqa: F401


@dataclass(frozen=True)
class Sample:
    """One labelled radiograph. ``source`` is a path, raw bytes or a zero-argument callable
    returning bytes (e.g. reading from Django storage), so the engine needs no ORM."""

    source: str | os.PathLike | bytes | Callable[[], bytes]
    label: str
    group: str | None = None

    def read(self) -> str | os.PathLike | bytes:
        return self.source() if callable(self.source) else self.source

    @property
    def key(self) -> str:
        """Identity used for grouping when no group is given (one image = one patient)."""
        if isinstance(self.source, str | os.PathLike):
            return str(self.source)
        return f"id:{id(self)}"


def _read_manifest_groups(manifest: str | os.PathLike, root: Path) -> dict[str, str]:
    groups: dict[str, str] = {}
    with open(manifest, newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("group"):
                groups[str((root / row["path"]).resolve())] = row["group"]
    return groups


def samples_from_folder(
    root: str | os.PathLike,
    label_map: dict[str, str] | None = None,
    manifest: str | os.PathLike | None = None,
) -> list[Sample]:
    """One sub-folder per class. Images sharing a manifest ``group`` get the same group id;
    every other image is its own group (assumed to be a distinct patient)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if manifest is None and (root / "manifest.csv").is_file():
        manifest = root / "manifest.csv"
    groups = _read_manifest_groups(manifest, root) if manifest else {}
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = folder_label(folder.name, label_map)
        if label is None:
            continue
        for path in image_files(folder):
            resolved = str(path.resolve())
            samples.append(Sample(str(path), label, groups.get(resolved, f"img:{path.relative_to(root)}")))
    if not samples:
        raise ValueError(f"no JPEG/PNG images found in class folders under {root}")
    return samples


def group_ids(samples: Sequence[Sample]) -> list[str]:
    return [s.group or s.key for s in samples]


def data_fingerprint(samples: Sequence[Sample]) -> str:
    """SHA-256 over (label, content hash) pairs, order independent."""
    digests = []
    for s in samples:
        data = s.read()
        raw = Path(data).read_bytes() if isinstance(data, str | os.PathLike) else bytes(data)
        digests.append(f"{s.label}:{hashlib.md5(raw).hexdigest()}")
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


class DecodedCache:
    """Decodes each sample once; augmentation then works on the cached grayscale arrays."""

    def __init__(self, samples: Sequence[Sample], params: PreprocessParams):
        self.arrays = [load_image(s.read(), params.decode_max_side) for s in samples]


class RadiographDataset(Dataset):
    def __init__(
        self,
        samples: Sequence[Sample],
        labels: Sequence[str],
        params: PreprocessParams,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        cache: DecodedCache | None = None,
        seed: int = 0,
    ):
        self.samples = list(samples)
        self.targets = [labels.index(s.label) for s in self.samples]
        self.params = params
        self.augment = augment
        self.cache = cache or DecodedCache(self.samples, params)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        gray = self.cache.arrays[index]
        if self.augment is not None:
            gray = self.augment(gray, self.rng)
        return preprocess(gray, self.params), self.targets[index]
