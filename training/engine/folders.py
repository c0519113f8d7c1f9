"""What a class-per-folder data set holds, without reading a pixel.

Plain Python (no torch, no Django): the web process counts a base data folder's films with it
before it accepts a training run, and `samples_from_folder` reads folders by the same rules.
"""
from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Folder names of the original Mendeley release and of the prototype, mapped to label keys.
DEFAULT_LABEL_MAP = {
    "normalfinal": "normal", "normal": "normal",
    "scolfinal": "scoliosis", "scoliosis": "scoliosis",
    "spondfinal": "spondylolisthesis", "spondylolisthesis": "spondylolisthesis",
    "spondylosis": "spondylolisthesis",
}


def folder_label(name: str, label_map: dict[str, str] | None = None) -> str | None:
    """The label key of a class folder (None: a folder an explicit label map leaves out)."""
    mapping = {k.lower(): v for k, v in (label_map or DEFAULT_LABEL_MAP).items()}
    return mapping.get(name.lower(), name.lower() if label_map is None else None)


def image_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]


def class_counts_in_folder(root: str | os.PathLike) -> dict[str, int]:
    """Films per label key under `root` ({} when the folder is missing or holds no class folder)."""
    root = Path(root)
    counts: dict[str, int] = {}
    if not root.is_dir():
        return counts
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = folder_label(folder.name)
        if label is not None:
            counts[label] = counts.get(label, 0) + len(image_files(folder))
    return {label: n for label, n in counts.items() if n}
