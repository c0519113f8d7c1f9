"""Shared helpers for the inference and review tests: real checkpoints and registry rows.

A tiny real checkpoint is built with the engine's own factory and save function (random
weights, identity-precision OOD), so tests exercise the real Predictor, never a mock.
"""
from __future__ import annotations

import io
import uuid

from django.core.files.base import ContentFile

from cases.models import BurnedInAnnotation, Case, ImageFormat, Radiograph
from registry.models import ModelKind, ModelVersion
from registry.services import model_version_activate, model_version_register
from tests.factories import PASSWORD, UserFactory
from tests.images import png_bytes

__all__ = ["PASSWORD", "png_bytes"]

LABELS = ["normal", "scoliosis", "spondylolisthesis"]


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
    """A user in `role` (None: no role), from the suite's one user factory."""
    return UserFactory(username=username, role=role, **extra)


def make_case(owner, *, patient_reference: str = "MRN-0001") -> Case:
    return Case.objects.create(owner=owner, patient_reference=patient_reference, birth_year=2008)


def make_radiograph(case: Case, *, data: bytes | None = None, seed: int = 0) -> Radiograph:
    import hashlib

    data = png_bytes(width=160, height=240, seed=seed) if data is None else data
    radiograph = Radiograph(
        case=case,
        source_format=ImageFormat.PNG,
        content_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=_size(data)[0],
        height=_size(data)[1],
        # Synthetic pixels with no text: free of burned-in annotation, so training may use it.
        burned_in_annotation=BurnedInAnnotation.NO,
        uploaded_by=case.owner,
    )
    radiograph.image.save("upload.png", ContentFile(data), save=False)
    radiograph.save()
    return radiograph


def build_landmark_checkpoint_bytes(*, seed: int = 0, architecture: str = "test-landmarks",
                                    input_size: int = 128, input_width: int = 64) -> bytes:
    """A real landmark checkpoint with random weights (tiny, un-pretrained): loads and runs, finds
    no spine. For registry tests; `measuring_landmark_checkpoint_bytes` measures films. With the
    engine's architecture name and a run's canvas, a landmark run can warm-start from it."""
    import torch

    from inference.engine import (
        MahalanobisOOD,
        MeasurabilityThresholds,
        PreprocessParams,
        save_checkpoint,
    )
    from inference.engine.cobb import VERTEBRAE
    from inference.engine.landmark_model import LandmarkNet
    from inference.engine.landmark_predictor import LANDMARK_FORMAT

    torch.manual_seed(seed)
    model = LandmarkNet(pretrained=False, width=16)
    dim = model.lateral32.in_channels
    ood = MahalanobisOOD(torch.zeros(1, dim), torch.zeros(dim, dim), float("inf"))
    metadata = {
        "kind": "landmarks",
        "architecture": architecture,
        "backbone": "tf_efficientnet_lite0",
        "head_width": 16,
        "vertebrae": list(VERTEBRAE),
        "preprocessing": PreprocessParams(input_size=input_size, input_width=input_width).to_dict(),
        "measurability": MeasurabilityThresholds().to_dict(),
        "name": f"test-landmarks-{seed}-{uuid.uuid4().hex[:6]}",
    }
    buffer = io.BytesIO()
    save_checkpoint(buffer, model.state_dict(), ood.to_state(), metadata, format=LANDMARK_FORMAT)
    return buffer.getvalue()


def landmark_checkpoint_bytes(*, seed: int = 0) -> bytes:
    key = ("landmarks", seed)
    if key not in _CHECKPOINTS:
        _CHECKPOINTS[key] = build_landmark_checkpoint_bytes(seed=seed)
    return _CHECKPOINTS[key]


def measuring_landmark_checkpoint_bytes() -> bytes:
    """A landmark checkpoint trained (seeded, ~15 s on one thread) on two synthetic films, which
    measures `synthetic_film_png(0)`: a real trained model, not a stand-in."""
    key = ("landmarks", "measuring")
    if key in _CHECKPOINTS:
        return _CHECKPOINTS[key]
    import torch

    from inference.engine import MeasurabilityThresholds
    from tests.engine.landmark_fixtures import TINY, film_sample
    from training.engine.landmarks import LandmarkTrainConfig, train_landmarks

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        # The engine's default limits, not ones fitted on the two films (the ordering check included).
        limits = MeasurabilityThresholds().to_dict()
        config = LandmarkTrainConfig(max_epochs=60, extra_metadata={"measurability": limits}, **TINY)
        buffer = io.BytesIO()
        train_landmarks([film_sample(s) for s in range(2)], config, checkpoint=buffer)
    finally:
        torch.set_num_threads(threads)
    _CHECKPOINTS[key] = buffer.getvalue()
    return _CHECKPOINTS[key]


def synthetic_film_png(seed: int = 0) -> bytes:
    """A synthetic AP "spine" (tests.engine.landmark_fixtures) as PNG bytes."""
    import numpy as np

    from tests.engine.landmark_fixtures import synthetic_film

    gray, _ = synthetic_film(seed)
    return png_bytes(pixels=(gray * 255).astype(np.uint8))


def make_active_landmark_version(*, seed: int = 0, data: bytes | None = None) -> ModelVersion:
    version, _ = model_version_register(
        data=data or landmark_checkpoint_bytes(seed=seed), kind=ModelKind.LANDMARKS
    )
    return model_version_activate(model_version=version, user=None, reason="test")


def _size(data: bytes) -> tuple[int, int]:
    """The image's (width, height); 160 x 240 for bytes that are no image (hostile uploads)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data)).size
    except (UnidentifiedImageError, OSError):
        return 160, 240


def make_model_version_row(*, name: str = "rows-only", active: bool = True,
                           kind: str = ModelKind.CLASSIFIER) -> ModelVersion:
    """A registry row without a usable checkpoint: for tests that never run the model."""
    return ModelVersion.objects.create(
        kind=kind,
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


def make_finished_measurement(radiograph, version=None, *, angle: float | None = 23.4,
                              not_measured: str = "", status: str = "succeeded", overlay: bool = True):
    """A finished Measurement row (measured with `angle`, or not measured with the reason)."""
    from django.utils import timezone

    from inference.engine import severity_band
    from inference.models import Measurement

    version = version or make_model_version_row(
        name=f"landmarks-{uuid.uuid4().hex[:6]}", kind=ModelKind.LANDMARKS, active=False
    )
    measured = status == "succeeded" and not not_measured and angle is not None
    # A column of 17 boxes 20 px tall, in the stored image's pixels.
    landmarks = [[x, 10 + 22 * v + dy] for v in range(17) for dy in (0, 20) for x in (60, 100)]
    measurement = Measurement.objects.create(
        radiograph=radiograph, model_version=version, status=status,
        cobb_pt=angle if measured else None, cobb_mt=5.0 if measured else None,
        cobb_tl=3.0 if measured else None, largest_angle=angle if measured else None,
        largest_upper="T6" if measured else "", largest_lower="T11" if measured else "",
        largest_apex="T9" if measured else "", curve_type="C" if measured else "",
        severity=severity_band(angle) if measured else "",
        landmarks=landmarks if measured else None, not_measured=not_measured,
        error="" if status == "succeeded" else "The landmark model could not be loaded: test",
        finished_at=timezone.now(),
    )
    if measured and overlay:
        measurement.overlay.save("overlay.png", ContentFile(png_bytes(seed=9)))
    return measurement
