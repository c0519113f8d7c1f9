"""Shared helpers for the inference and review tests: real checkpoints, real images, personas.

A tiny real checkpoint is built with the engine's own factory and save function (random
weights, identity-precision OOD), so tests exercise the real Predictor, never a mock.
"""
from __future__ import annotations

import io
import uuid

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from PIL import Image

from cases.models import BurnedInAnnotation, Case, ImageFormat, Radiograph
from training.models import ModelVersion
from training.services import model_version_activate, model_version_register

LABELS = ["normal", "scoliosis", "spondylolisthesis"]
PASSWORD = "correct-horse-battery-staple"


def build_checkpoint_bytes(*, ood_threshold: float = 1e12, seed: int = 0, input_size: int = 128) -> bytes:
    import torch

    from inference.engine import PreprocessParams, create_model, save_checkpoint

    torch.manual_seed(seed)
    model = create_model(num_classes=len(LABELS), pretrained=False)
    features = model.num_features
    ood_state = {
        "means": torch.zeros(len(LABELS), features),
        "precision": torch.eye(features),
        "threshold": float(ood_threshold),
    }
    metadata = {
        "architecture": "tf_efficientnet_lite0",
        "labels": LABELS,
        "input_size": input_size,
        "preprocessing": PreprocessParams(input_size=input_size).to_dict(),
        "temperature": 1.5,
        "metrics": {"test": {"macro_f1": 0.5}},
        "name": f"test-model-{seed}-{uuid.uuid4().hex[:6]}",
    }
    buffer = io.BytesIO()
    save_checkpoint(buffer, model.state_dict(), ood_state, metadata)
    return buffer.getvalue()


_CHECKPOINTS: dict[tuple, bytes] = {}


def checkpoint_bytes(**kwargs) -> bytes:
    key = tuple(sorted(kwargs.items()))
    if key not in _CHECKPOINTS:
        _CHECKPOINTS[key] = build_checkpoint_bytes(**kwargs)
    return _CHECKPOINTS[key]


def make_active_model_version(**kwargs) -> ModelVersion:
    version, _ = model_version_register(data=checkpoint_bytes(**kwargs))
    return model_version_activate(model_version=version, user=None, reason="test")


def make_user(username: str, role: str | None, **extra):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
    return user


def png_bytes(*, size: tuple[int, int] = (160, 240), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = rng.integers(0, 255, size=(h, w), dtype=np.uint8)
    # A bright vertical band, roughly spine-like, so the image is not pure noise.
    pixels[:, w // 2 - 8 : w // 2 + 8] = 230
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def make_case(owner, *, patient_reference: str = "MRN-0001") -> Case:
    return Case.objects.create(owner=owner, patient_reference=patient_reference, birth_year=2008)


def make_radiograph(case: Case, *, data: bytes | None = None, seed: int = 0) -> Radiograph:
    import hashlib

    data = png_bytes(seed=seed) if data is None else data
    radiograph = Radiograph(
        case=case,
        source_format=ImageFormat.PNG,
        content_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=160,
        height=240,
        # Synthetic pixels with no text: free of burned-in annotation, so training may use it.
        burned_in_annotation=BurnedInAnnotation.NO,
        uploaded_by=case.owner,
    )
    radiograph.image.save("upload.png", ContentFile(data), save=False)
    radiograph.save()
    return radiograph


def make_model_version_row(*, name: str = "rows-only", active: bool = True) -> ModelVersion:
    """A registry row without a usable checkpoint: for tests that never run the model."""
    return ModelVersion.objects.create(
        name=name,
        sha256=uuid.uuid4().hex * 2,
        architecture="tf_efficientnet_lite0",
        labels=LABELS,
        status="active" if active else "candidate",
        checkpoint="checkpoints/none.pt",
    )


def make_finished_prediction(radiograph, version, *, label="scoliosis", confidence=0.9,
                             ood=False, status="succeeded"):
    from django.utils import timezone

    from inference.models import Prediction

    rest = (1 - confidence) / (len(LABELS) - 1)
    return Prediction.objects.create(
        radiograph=radiograph,
        model_version=version,
        status=status,
        label=label if status == "succeeded" else "",
        confidence=confidence if status == "succeeded" else None,
        probabilities={k: (confidence if k == label else rest) for k in LABELS},
        out_of_distribution=ood,
        ood_score=99.0 if ood else 1.0,
        error="" if status == "succeeded" else "The image could not be read: test",
        finished_at=timezone.now(),
    )
