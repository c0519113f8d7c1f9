"""Checkpoint format: one ``torch.save`` file of plain tensors, strings and numbers.

Loadable with ``torch.load(weights_only=True)`` (data, not code). An integrity digest over the
tensors and the metadata JSON detects tampering or truncation; the architecture and label set in
the metadata must fit the weights or the file is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

FORMAT = "spine-classifier-checkpoint/1"


class CheckpointError(ValueError):
    """Tampered, truncated, mismatched or not-a-checkpoint file."""


@dataclass
class LoadedCheckpoint:
    state_dict: dict[str, torch.Tensor]
    ood_state: dict[str, Any]
    metadata: dict[str, Any]
    sha256: str


def _digest(state: dict[str, torch.Tensor], ood: dict[str, Any], metadata_json: str) -> str:
    h = hashlib.sha256()
    for group in (state, ood):
        for key in sorted(group):
            value = group[key]
            h.update(key.encode())
            if isinstance(value, torch.Tensor):
                t = value.detach().cpu().contiguous()
                h.update(f"{t.dtype}{tuple(t.shape)}".encode())
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
            else:
                h.update(repr(value).encode())
    h.update(metadata_json.encode())
    return h.hexdigest()


def save_checkpoint(
    target: str | os.PathLike | IO[bytes],
    state_dict: dict[str, torch.Tensor],
    ood_state: dict[str, Any],
    metadata: dict[str, Any],
    format: str = FORMAT,
) -> str:
    """Write the checkpoint; returns the SHA-256 of the file bytes (the version fingerprint).

    ``format`` names the kind of model (the landmark model writes its own), so a classifier
    checkpoint is never loaded as a landmark model or the other way round.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    ood = {k: (v.detach().cpu().contiguous() if isinstance(v, torch.Tensor) else float(v)) for k, v in ood_state.items()}
    metadata_json = json.dumps(metadata, sort_keys=True, default=str)
    payload = {
        "format": format,
        "state_dict": state,
        "ood": ood,
        "metadata_json": metadata_json,
        "integrity_sha256": _digest(state, ood, metadata_json),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if isinstance(target, str | os.PathLike):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a checkpoint
    else:
        target.write(data)
    return hashlib.sha256(data).hexdigest()


def _read_bytes(source: str | os.PathLike | IO[bytes] | bytes) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        return path.read_bytes()
    return source.read()


def load_checkpoint(source: str | os.PathLike | IO[bytes] | bytes, expected_format: str = FORMAT) -> LoadedCheckpoint:
    data = _read_bytes(source)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of many kinds
        raise CheckpointError(f"not a loadable checkpoint (or unsafe content refused): {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise CheckpointError(f"not a {expected_format.split('-checkpoint')[0]} checkpoint (expected format {expected_format!r})")
    try:
        state, ood = payload["state_dict"], payload["ood"]
        metadata_json, expected = payload["metadata_json"], payload["integrity_sha256"]
        metadata = json.loads(metadata_json)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint is missing fields: {exc}") from exc
    if _digest(state, ood, metadata_json) != expected:
        raise CheckpointError("checkpoint integrity check failed: weights or metadata were modified")
    return LoadedCheckpoint(state, ood, metadata, hashlib.sha256(data).hexdigest())
