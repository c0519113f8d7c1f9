"""Cobb measurement on upload, for real: Redis broker, PostgreSQL and a Celery worker run the
classifier and then, chained, the landmark model. One part failing never loses the other."""
from __future__ import annotations

import time

import pytest

from cases.services import radiograph_upload
from inference.measuring import OUT_OF_DISTRIBUTION
from inference.models import Measurement, Prediction, PredictionStatus
from registry.models import ModelVersion
from tests.factories import upload
from tests.inference import support

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FINISHED = {PredictionStatus.SUCCEEDED, PredictionStatus.FAILED}


@pytest.fixture
def landmark_version(db):
    return support.make_active_landmark_version(data=support.measuring_landmark_checkpoint_bytes())


def _upload(case) -> int:
    # The upload service itself: it sends `radiographs_uploaded` once its transaction commits.
    (radiograph,) = radiograph_upload(user=case.owner, case=case, files=[upload(support.synthetic_film_png(0), "ap.png")])
    return radiograph.pk


def _finished(radiograph_id: int, timeout: float = 120) -> tuple[Prediction | None, Measurement]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        measurement = Measurement.objects.filter(radiograph_id=radiograph_id).first()
        prediction = Prediction.objects.filter(radiograph_id=radiograph_id).first()
        if measurement and measurement.status in FINISHED and (prediction is None or prediction.status in FINISHED):
            return prediction, measurement
        time.sleep(0.1)
    raise AssertionError(f"radiograph {radiograph_id} not read and measured after {timeout}s")


def _break_checkpoint(version: ModelVersion) -> None:
    # The stored file no longer matches its registered fingerprint: the worker refuses it.
    ModelVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)


def test_upload_is_classified_and_measured_by_a_real_worker(worker, case, model_version, landmark_version):
    prediction, measurement = _finished(_upload(case))

    assert prediction.status == PredictionStatus.SUCCEEDED, prediction.error
    assert measurement.status == PredictionStatus.SUCCEEDED, measurement.error
    assert measurement.model_version == landmark_version
    assert measurement.not_measured == ""
    assert measurement.largest_angle is not None and measurement.largest_angle >= 0
    assert measurement.largest_angle == pytest.approx(measurement.cobb_pt)
    assert measurement.largest_upper and measurement.largest_lower and measurement.largest_apex
    assert measurement.curve_type in {"C", "S"} and measurement.severity
    assert len(measurement.landmarks) == 68 and all(len(p) == 2 for p in measurement.landmarks)
    # In the stored image's pixels (the synthetic film is 140 x 320).
    assert all(-20 <= x <= 160 and -20 <= y <= 340 for x, y in measurement.landmarks)
    assert measurement.overlay.name.startswith("cobb/")
    assert measurement.finished_at >= prediction.finished_at  # chained after the prediction


def test_a_failing_measurement_does_not_lose_the_prediction(worker, case, model_version, landmark_version):
    _break_checkpoint(landmark_version)

    prediction, measurement = _finished(_upload(case))

    assert prediction.status == PredictionStatus.SUCCEEDED and prediction.label in support.LABELS
    assert measurement.status == PredictionStatus.FAILED
    assert "landmark model could not be loaded" in measurement.error
    assert measurement.largest_angle is None and measurement.landmarks is None


def test_a_failing_prediction_does_not_lose_the_measurement(worker, case, model_version, landmark_version):
    _break_checkpoint(model_version)

    prediction, measurement = _finished(_upload(case))

    assert prediction.status == PredictionStatus.FAILED and "could not be loaded" in prediction.error
    assert measurement.status == PredictionStatus.SUCCEEDED, measurement.error
    assert measurement.not_measured == "" and measurement.largest_angle is not None


def test_a_film_the_classifier_finds_out_of_distribution_is_not_measured(worker, case, landmark_version):
    support.make_active_model_version(ood_threshold=0.0)

    prediction, measurement = _finished(_upload(case))

    assert prediction.out_of_distribution
    assert measurement.status == PredictionStatus.SUCCEEDED
    assert measurement.not_measured == OUT_OF_DISTRIBUTION
    assert measurement.largest_angle is None and measurement.landmarks is None and not measurement.overlay


def test_without_a_classifier_the_film_is_still_measured(worker, case, landmark_version):
    prediction, measurement = _finished(_upload(case))

    assert prediction is None
    assert measurement.status == PredictionStatus.SUCCEEDED and measurement.largest_angle is not None
