"""A radiograph with a model measurement of known geometry, for the Cobb correction tests."""
from __future__ import annotations

import numpy as np
import pytest

from inference.engine.cobb import cobb_angles
from tests.engine.test_cobb_geometry import synthetic_landmarks
from tests.factories import RadiographFactory, png_bytes

FILM_WIDTH, FILM_HEIGHT = 600, 800
# Tilt rises to +12 deg at T4 and falls to -18 deg at L1: a 30 deg curve from T4 to L1.
TILTS = np.interp(range(17), [0, 3, 12, 16], [5, 12, -18, -10])


@pytest.fixture(name="landmark_model_version")
def landmark_model_version_fixture(db):
    """A landmark model version row (the measurement's maker; no weights needed here)."""
    from registry.models import ModelKind
    from tests.inference.support import make_model_version_row

    return make_model_version_row(name="landmarks-rows-only", kind=ModelKind.LANDMARKS)


def curve_landmarks(tilts=TILTS) -> np.ndarray:
    lateral = 40 * np.sin(np.pi * (np.arange(17) - 3) / 9).clip(0)
    return synthetic_landmarks(tilts, lateral)


def film_png(points: np.ndarray, *, width: int = FILM_WIDTH, height: int = FILM_HEIGHT, seed: int = 7,
             fill: int = 190) -> bytes:
    """A dark, noisy film with a bright vertebra drawn at each 4 corners: no patient's image."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.normal(30, 6, (height, width)).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for quad in points.reshape(17, 4, 2):
        draw.polygon([tuple(quad[0]), tuple(quad[1]), tuple(quad[3]), tuple(quad[2])], fill=fill)
    return png_bytes(pixels=np.asarray(image))


def measured_radiograph(case, model_version, landmarks=None):
    """A film, the classifier's answer and the landmark model's measurement of it (the engine's
    geometry on `landmarks`)."""
    from inference.models import Measurement, PredictionStatus
    from registry.models import ModelKind, ModelVersion
    from tests.inference.support import make_finished_prediction, make_model_version_row

    points = curve_landmarks() if landmarks is None else landmarks
    radiograph = RadiographFactory(case=case, width=FILM_WIDTH, height=FILM_HEIGHT, image_bytes=film_png(points))
    classifier = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER).first() or make_model_version_row(
        name="classifier-rows-only")
    make_finished_prediction(radiograph, classifier, label="scoliosis", confidence=0.9)
    m = cobb_angles(points, image_height=FILM_HEIGHT)
    Measurement.objects.create(
        radiograph=radiograph, model_version=model_version, status=PredictionStatus.SUCCEEDED,
        cobb_pt=m.pt, cobb_mt=m.mt, cobb_tl=m.tl, largest_angle=m.largest.angle,
        largest_upper=m.largest.upper, largest_lower=m.largest.lower, largest_apex=m.largest.apex,
        curve_type=m.curve_type, severity=m.severity, landmarks=np.round(points, 2).tolist(),
    )
    return radiograph
