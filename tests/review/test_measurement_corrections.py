"""Reviewers correct Cobb measurements: angles computed by the server from the landmarks and
the chosen end vertebrae, stored with who and when, shown on the case's film, and fed to
landmark retraining (patient-grouped)."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from inference.engine.cobb import cobb_angles
from reviews.models import MeasurementCorrection
from reviews.services import measurement_correction_submit, review_submit
from tests.review.cobb_support import (
    FILM_HEIGHT,
    curve_landmarks,
    landmark_model_version_fixture,  # noqa: F401 - fixture
    measured_radiograph,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def film(case, landmark_model_version):
    return measured_radiograph(case, landmark_model_version)


@pytest.fixture
def read_film(film, reviewer):
    """The reviewer has saved their own read: blind reading now lets them see the measurement."""
    review_submit(radiograph=film, reviewer=reviewer, label="scoliosis")
    return film


def straighter_landmarks() -> np.ndarray:
    # The same column with every tilt halved: a 15 deg curve.
    return curve_landmarks(np.interp(range(17), [0, 3, 12, 16], [2.5, 6, -9, -5]))


def test_server_computes_the_angles_from_the_corrected_landmarks(read_film, reviewer):
    points = straighter_landmarks()
    correction = measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=points.tolist())
    expected = cobb_angles(points, image_height=FILM_HEIGHT)
    assert correction.largest_angle == pytest.approx(expected.largest.angle, abs=1e-6)
    assert correction.largest_angle == pytest.approx(15.0, abs=0.01)
    assert (correction.upper_end, correction.lower_end) == ("T4", "L1")
    assert correction.cobb_pt == pytest.approx(expected.pt) and correction.severity == "watch"
    assert correction.reviewer == reviewer and correction.created_at is not None
    assert correction.measurement == read_film.measurements.get()


def test_choosing_other_end_vertebrae_alone_is_a_correction(read_film, reviewer):
    correction = measurement_correction_submit(radiograph=read_film, reviewer=reviewer,
                                               upper_end="T1", lower_end="L1")
    # The model's landmarks, the reviewer's ends: T1 tilts 5 deg, L1 -18 deg.
    assert correction.largest_angle == pytest.approx(23.0, abs=0.05)  # the stored landmarks are rounded
    assert correction.ends_chosen and correction.upper_end == "T1"


def test_end_vertebrae_in_the_wrong_order_are_refused(read_film, reviewer):
    with pytest.raises(ValidationError, match="upper end vertebra must lie above"):
        measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="L1", lower_end="T4")


def test_landmarks_off_the_film_or_short_are_refused(read_film, reviewer):
    far = curve_landmarks()
    far[10] = [5000, 10]
    with pytest.raises(ValidationError, match="outside the film"):
        measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=far.tolist())
    with pytest.raises(ValidationError, match="68"):
        measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=curve_landmarks()[:60].tolist())
    assert not MeasurementCorrection.objects.exists()


def test_blind_reviewer_corrects_only_after_saving_their_read(film, reviewer):
    with pytest.raises(PermissionDenied, match="Save your own read"):
        measurement_correction_submit(radiograph=film, reviewer=reviewer, upper_end="T1", lower_end="L1")


def test_clinician_cannot_correct_a_measurement(film, clinician, api_as):
    with pytest.raises(PermissionDenied):
        measurement_correction_submit(radiograph=film, reviewer=clinician, upper_end="T1", lower_end="L1")
    url = f"/api/v1/radiographs/{film.pk}/measurement-corrections/"
    assert api_as(clinician).post(url, {"upper_end": "T1", "lower_end": "L1"}, format="json").status_code == 403


def test_api_ignores_an_angle_sent_by_the_client(read_film, reviewer, api_as):
    url = f"/api/v1/radiographs/{read_film.pk}/measurement-corrections/"
    response = api_as(reviewer).post(url, {"landmarks": straighter_landmarks().tolist(),
                                           "largest_angle": 1.0, "cobb": {"pt": 1.0}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["largest"]["angle"] == pytest.approx(15.0, abs=0.01)
    assert response.json()["reviewer"] == reviewer.username


def test_every_correction_is_kept_and_the_latest_is_what_the_film_shows(read_film, reviewer, clinician, api_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=straighter_landmarks().tolist())
    assert read_film.measurement_corrections.count() == 2
    body = api_as(clinician).get(f"/api/v1/radiographs/{read_film.pk}/").json()
    shown = body["measurement_correction"]
    assert shown["largest"]["angle"] == pytest.approx(15.0, abs=0.01)
    assert shown["corrections"] == 2
    assert shown["reviewer"] is None  # the clinician sees reads without the reader's name


def test_clinicians_radiograph_page_shows_the_reviewers_angle(read_film, reviewer, clinician, client_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=straighter_landmarks().tolist())
    page = client_as(clinician).get(reverse("cases:radiograph_detail", args=[read_film.pk])).content.decode()
    assert "reviewer&#x27;s correction" in page or "reviewer's correction" in page
    assert "15.0°" in page


def test_outsider_sees_no_correction(read_film, reviewer, other_clinician, api_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    url = f"/api/v1/radiographs/{read_film.pk}/measurement-corrections/"
    assert api_as(other_clinician).get(url).status_code == 404


def test_a_reviewer_sees_only_their_own_corrections(read_film, reviewer, second_reviewer, api_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    review_submit(radiograph=read_film, reviewer=second_reviewer, label="scoliosis")
    url = f"/api/v1/radiographs/{read_film.pk}/measurement-corrections/"
    assert api_as(second_reviewer).get(url).json() == {"correction": None}


def test_reading_page_form_saves_a_correction(read_film, reviewer, client_as):
    client = client_as(reviewer)
    page = client.get(reverse("reviews:review_read", args=[read_film.pk])).content.decode()
    assert "data-cobb-editor" in page and 'data-upper="T4"' in page
    response = client.post(reverse("reviews:measurement_correct", args=[read_film.pk]), {
        "landmarks": str(straighter_landmarks().round(2).tolist()), "upper": "T4", "lower": "L1"}, follow=True)
    assert "Measurement saved: 15.0°" in response.content.decode()
    assert MeasurementCorrection.objects.get().reviewer == reviewer


def test_corrected_films_join_landmark_training_grouped_by_patient(read_film, reviewer, settings, tmp_path):
    from tests.training.landmark_support import make_landmark_folder
    from training.runs.landmark_dataset import (
        corrected_group_in_evaluation,
        landmark_training_data_collect,
    )

    settings.TRAINING_LANDMARK_DATA_DIR = str(make_landmark_folder(tmp_path / "aasce", (0, 1), (2,)))
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=straighter_landmarks().tolist())
    data = landmark_training_data_collect()
    group = f"patient:{read_film.case.patient_reference}"
    corrected = [s for s in data.train + data.evaluation if s.group == group]
    assert len(corrected) == 1
    side = "evaluation" if corrected_group_in_evaluation(group) else "train"
    assert data.counts[f"corrected_{side}"] == 1
    # The label is the correction's landmarks as fractions of the stored film's size.
    assert np.allclose(corrected[0].points * [read_film.width, read_film.height], straighter_landmarks(), atol=0.01)
    assert corrected[0].angles[0] == pytest.approx(15.0, abs=0.01)
    assert data.counts["base_train"] == 2 and data.counts["base_evaluation"] == 1


def test_case_report_prints_the_reviewers_angle_before_the_models(read_film, reviewer):
    from reviews.report import cobb_report_measurements

    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, landmarks=straighter_landmarks().tolist())
    lines = cobb_report_measurements(read_film)
    assert lines[0].name.startswith("Cobb angle, reviewer's correction (T4\u2013L1")
    assert lines[0].value == pytest.approx(15.0, abs=0.01) and lines[0].source.startswith("reviewer")
    assert lines[1].value == pytest.approx(30.0, abs=0.05)  # the model's, kept beside it


# --- the Cobb layer and the measurement API follow the latest correction ---------------------------


def _cobb_layer(page: str, radiograph) -> list[dict] | None:
    """The Cobb layer's shapes the page hands the film viewer (its json_script), or None."""
    import json
    import re

    found = re.search(rf'<script id="cobb-layer-{radiograph.pk}" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found.group(1)) if found else None


def _captions(shapes: list[dict]) -> list[str]:
    return [s["text"] for s in shapes if s["type"] == "text"]


def test_measurement_api_adds_the_correction_and_keeps_the_models_landmarks(read_film, reviewer, clinician, api_as):
    model_landmarks = read_film.measurements.get().landmarks
    correction = measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1",
                                               landmarks=straighter_landmarks().tolist())
    measurement = read_film.measurements.get()
    for body in (api_as(clinician).get(f"/api/v1/measurements/{measurement.pk}/").json(),
                 api_as(clinician).get(f"/api/v1/radiographs/{read_film.pk}/").json()["measurement"]):
        # `landmarks`, `largest` and the angles stay the model's; `correction` is the reviewer's.
        assert body["landmarks"] == model_landmarks and body["largest"]["angle"] == pytest.approx(30.0, abs=0.05)
        shown = body["correction"]
        assert shown["id"] == correction.pk and shown["landmarks"] == correction.landmarks
        assert shown["largest"] == {"angle": correction.largest_angle, "upper": "T1", "lower": "L1",
                                    "apex": correction.apex}
        assert shown["reviewer"] is None and shown["created_at"]  # a clinician: when, not who
    assert api_as(reviewer).get(f"/api/v1/measurements/{measurement.pk}/").json()["correction"]["reviewer"] == \
        reviewer.username


def test_measurement_api_correction_is_null_without_one(read_film, clinician, api_as):
    measurement = read_film.measurements.get()
    assert api_as(clinician).get(f"/api/v1/measurements/{measurement.pk}/").json()["correction"] is None


def test_another_reviewer_gets_neither_the_correction_nor_its_layer(read_film, reviewer, second_reviewer,
                                                                     api_as, client_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    review_submit(radiograph=read_film, reviewer=second_reviewer, label="scoliosis")
    measurement = read_film.measurements.get()
    assert api_as(second_reviewer).get(f"/api/v1/measurements/{measurement.pk}/").json()["correction"] is None
    panel = client_as(second_reviewer).get(reverse("inference:prediction_panel", args=[read_film.pk]),
                                           {"fragment": 1}).content.decode()
    assert _captions(_cobb_layer(panel, read_film))[-1] == "Cobb 30.0°"  # the model's
    assert 'data-cobb-label="Cobb"' in panel and "corrected" not in panel


def test_blind_reviewer_gets_no_correction_of_an_unread_film(read_film, reviewer, second_reviewer, api_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    body = api_as(second_reviewer).get(f"/api/v1/radiographs/{read_film.pk}/").json()
    assert body["measurement"] is None and body["measurement_correction"] is None


def test_clinicians_cobb_layer_draws_the_latest_correction(read_film, reviewer, clinician, client_as):
    from django.utils.timezone import localtime

    from inference.selectors import (
        cobb_layer_shapes,
        cobb_layer_shapes_corrected,
        measurement_correction_for_user,
    )

    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    latest = measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T2", lower_end="T12",
                                           landmarks=straighter_landmarks().tolist())
    client = client_as(clinician)
    page = client.get(reverse("cases:radiograph_detail", args=[read_film.pk])).content.decode()

    layer = _cobb_layer(page, read_film)
    assert layer == cobb_layer_shapes_corrected(measurement_correction_for_user(radiograph=read_film, user=clinician))
    assert layer != cobb_layer_shapes(read_film.measurements.get())
    assert _captions(layer) == ["T2", "T12", f"Cobb {latest.largest_angle:.1f}° (corrected)"]
    # The layer's outlines are the corrected landmarks (vertebra T1's quadrilateral).
    assert layer[0]["points"] == [latest.landmarks[i] for i in (0, 1, 3, 2)]
    assert 'data-cobb-label="Cobb (corrected)"' in page
    note = f"({latest.largest_angle:.1f}° T2–T12, by a reviewer, {localtime(latest.created_at):%Y-%m-%d %H:%M})"
    assert note in page
    # The panel the page polls says the same; the reading page's (cobb=model) keeps the model's.
    url = reverse("inference:prediction_panel", args=[read_film.pk])
    assert _cobb_layer(client.get(url, {"fragment": 1}).content.decode(), read_film) == layer
    model = _cobb_layer(client.get(url, {"fragment": 1, "cobb": "model"}).content.decode(), read_film)
    assert model == cobb_layer_shapes(read_film.measurements.get())


def test_reviewers_reading_page_keeps_the_models_layer_under_their_editor(read_film, reviewer, client_as):
    measurement_correction_submit(radiograph=read_film, reviewer=reviewer, upper_end="T1", lower_end="L1")
    page = client_as(reviewer).get(reverse("reviews:review_read", args=[read_film.pk])).content.decode()
    assert _captions(_cobb_layer(page, read_film))[-1] == "Cobb 30.0°"
    assert "cobb=model" in page and 'data-upper="T1"' in page  # the editor starts from their correction
