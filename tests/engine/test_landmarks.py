"""Landmark engine: augmentation geometry, not-measured reasons, a tiny seeded training run,
checkpoint round trip. No database, no network; synthetic films only."""

from __future__ import annotations

import copy
import hashlib
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference.engine.checkpoint import CheckpointError, save_checkpoint
from inference.engine.landmark_model import (
    CORNER_WINDOW,
    PEAK_WINDOW,
    STRIDE,
    DecodedLandmarks,
    mirror_average,
    peak_landmarks,
    unmirror,
)
from inference.engine.landmark_predictor import (
    LandmarkEvidence,
    LandmarkPredictor,
    MeasurabilityThresholds,
    NotMeasured,
    canvas_to_image,
    image_to_canvas,
    not_measured_reason,
)
from inference.engine.ood import MahalanobisOOD, NearestFilmsOOD
from inference.engine.preprocessing import PreprocessParams, preprocess_with_box
from training.engine.landmark_augment import (
    LandmarkTrainAugmentation,
    flip_landmarks,
    rotate_points,
)
from training.engine.landmarks import (
    DecodedFilms,
    LandmarkSample,
    LandmarkTrainConfig,
    canvas_targets,
    epoch_films,
    fit_serving_parts,
    fit_thresholds,
    landmark_loss,
    left_to_right,
    pooled_features,
    samples_from_labels_csv,
    tilt_error,
    top_to_bottom,
    train_landmarks,
)

from .landmark_fixtures import TINY, synthetic_film, tiny_landmark_run_fixture  # noqa: F401 - fixture
from .test_cobb_geometry import aasce_dir, synthetic_landmarks

LIMITS = MeasurabilityThresholds(min_confidence=0.1, ood_distance=50.0)


def column_evidence(confidence=None, ood=10.0, order=None) -> LandmarkEvidence:
    """A plausible 17-vertebra column in canvas pixels, with chosen confidences and OOD distance."""
    corners = synthetic_landmarks(np.linspace(-5, 5, 17), width=30, height=16, gap=5, top=20, x0=96).reshape(17, 4, 2)
    if order is not None:
        corners = corners[order]
    conf = np.full(17, 0.6) if confidence is None else np.asarray(confidence, dtype=float)
    return LandmarkEvidence(corners, corners.mean(axis=1), conf, ood)


def test_plausible_confident_column_is_measured():
    assert not_measured_reason(column_evidence(), LIMITS) is None


def test_declared_lateral_view_is_not_measured():
    assert not_measured_reason(column_evidence(), LIMITS, view_position="LL") == NotMeasured.LATERAL_VIEW
    assert not_measured_reason(column_evidence(), LIMITS, view_position="AP") is None


def test_features_far_from_training_films_are_out_of_distribution():
    assert not_measured_reason(column_evidence(ood=80.0), LIMITS) == NotMeasured.OUT_OF_DISTRIBUTION


def test_missing_thoracic_vertebrae_with_lumbar_found_is_lumbar_only():
    confidence = np.full(17, 0.6)
    confidence[:9] = 0.02  # T1-T9 without a peak, T10-L5 found
    assert not_measured_reason(column_evidence(confidence), LIMITS) == NotMeasured.LUMBAR_ONLY


def test_scattered_missing_vertebrae_are_too_few_found():
    confidence = np.full(17, 0.6)
    confidence[[3, 13, 15]] = 0.02  # T4, L2, L4: not a lumbar-only pattern
    assert not_measured_reason(column_evidence(confidence), LIMITS) == NotMeasured.TOO_FEW_VERTEBRAE


def test_vertebrae_out_of_order_are_implausible():
    order = list(range(17))
    order[5], order[6] = 6, 5  # T6 found below T7
    assert not_measured_reason(column_evidence(order=order), LIMITS) == NotMeasured.IMPLAUSIBLE_GEOMETRY


def _column_with_step_8_9(step: float) -> LandmarkEvidence:
    """The plausible column with T9 onwards moved so that T8-T9's centres are ``step`` px apart
    (the other steps are 21 px)."""
    ev = column_evidence()
    corners = ev.corners.copy()
    corners[8:] -= np.array([0, 21.0 - step])
    return LandmarkEvidence(corners, corners.mean(axis=1), ev.confidence, ev.ood_distance)


def test_a_vertebra_found_twice_is_implausible():
    ev = _column_with_step_8_9(1.0)  # T9 found on top of T8: a step of 0.05 median steps
    assert ev.geometry()["min_spacing_ratio"] < 0.1
    assert not_measured_reason(ev, LIMITS) == NotMeasured.IMPLAUSIBLE_GEOMETRY


def test_a_short_step_that_is_not_a_duplicate_is_measured():
    # 0.2 median steps: shorter than any validation film's on some models, and not a duplicate.
    ev = _column_with_step_8_9(4.2)
    assert 0.19 < ev.geometry()["min_spacing_ratio"] < 0.21
    assert not_measured_reason(ev, LIMITS) is None


def _limits_fitted_on_plain_columns() -> tuple[MeasurabilityThresholds, dict]:
    rng = np.random.default_rng(5)
    validation = [column_evidence(confidence=rng.uniform(0.45, 0.65, 17)) for _ in range(20)]
    return fit_thresholds(validation, LandmarkTrainConfig())


def test_the_shortest_step_bound_is_fixed_not_read_from_a_checkpoint_nor_fitted():
    stored = {**LIMITS.to_dict(), "min_spacing_ratio": 0.38}  # what an older model fitted
    assert MeasurabilityThresholds.from_dict(stored).min_spacing_ratio == 0.1
    limits, info = _limits_fitted_on_plain_columns()
    assert limits.min_spacing_ratio == 0.1 and "shortest step 0.1" in info["geometry"]


def test_a_long_step_is_measured_and_no_longest_step_limit_is_read_stored_or_fitted():
    # Three median steps between T8 and T9: the fitted limit (2.45-3.50 on the 2026-12-05 CV models)
    # would have refused it; the limit is gone (landmark model card, "Round S (2026-12-05)").
    ev = _column_with_step_8_9(63.0)
    assert 2.9 < ev.geometry()["max_spacing_ratio"] < 3.1
    assert not_measured_reason(ev, LIMITS) is None
    stored = {**LIMITS.to_dict(), "max_spacing_ratio": 2.45}  # what an older model fitted
    assert MeasurabilityThresholds.from_dict(stored).max_spacing_ratio == float("inf")
    assert not_measured_reason(ev, MeasurabilityThresholds.from_dict(stored)) is None
    limits, info = _limits_fitted_on_plain_columns()
    assert limits.max_spacing_ratio == float("inf") and "no longest-step limit" in info["geometry"]
    # A checkpoint stores only the fitted limits, all finite (its metadata is JSON).
    assert not MeasurabilityThresholds.FIXED & limits.to_dict().keys()
    assert all(np.isfinite(v) for v in limits.to_dict().values())


@pytest.mark.parametrize("endplates", [[0, 1], [0], [1]], ids=["vertebra", "upper endplate", "lower endplate"])
def test_a_vertebra_with_its_left_and_right_corners_swapped_is_implausible(endplates):
    # Spacing, heights and order all pass: only the corners' left-to-right order is wrong, and the
    # angles on it would read about 180 deg.
    ev = column_evidence()
    corners = ev.corners.copy().reshape(17, 2, 2, 2)
    corners[12, endplates] = corners[12, endplates][:, ::-1]
    swapped = replace(ev, corners=corners.reshape(17, 4, 2))
    assert not_measured_reason(swapped, LIMITS) == NotMeasured.IMPLAUSIBLE_GEOMETRY
    # The check reads the corners that are measured: the mirror-averaged ones where present.
    assert not_measured_reason(replace(ev, refined_corners=swapped.corners), LIMITS) == NotMeasured.IMPLAUSIBLE_GEOMETRY


def test_steep_but_real_endplates_pass_the_tilt_bound():
    corners = synthetic_landmarks(np.interp(range(17), [0, 8, 16], [-35, 35, -35]), width=30, height=16,
                                  gap=5, top=20, x0=96).reshape(17, 4, 2)
    ev = LandmarkEvidence(corners, corners.mean(axis=1), np.full(17, 0.6), 10.0)
    assert 34 < ev.geometry()["max_endplate_tilt"] < 36
    assert not_measured_reason(ev, replace(LIMITS, min_spacing_ratio=0.1, max_height_ratio=2.0)) is None


def test_a_stored_checkpoints_thresholds_without_the_tilt_bound_get_the_default():
    stored = LIMITS.to_dict()  # as checkpoints from before the tilt bound stored them: without it
    assert "max_endplate_tilt" not in stored
    assert MeasurabilityThresholds.from_dict(stored).max_endplate_tilt == MeasurabilityThresholds().max_endplate_tilt
    older = {**stored, "max_endplate_tilt": 170.0}  # nor is a stored value read
    assert MeasurabilityThresholds.from_dict(older).max_endplate_tilt == MeasurabilityThresholds().max_endplate_tilt


def test_training_targets_put_each_endplates_corners_left_to_right():
    # As on two AASCE films: one vertebra's corners swapped, another's lower endplate swapped.
    points = synthetic_landmarks(np.zeros(17), width=30, height=16, gap=5, top=20, x0=96)
    wrong = points.reshape(17, 2, 2, 2).copy()
    wrong[16] = wrong[16][:, ::-1]
    wrong[15, 1] = wrong[15, 1][::-1]
    assert np.array_equal(left_to_right(wrong.reshape(68, 2)), points)
    assert np.array_equal(left_to_right(points), points)


def test_training_targets_put_the_vertebrae_top_to_bottom():
    # As on 24 AASCE films: T1's corners listed last (19 films), or two neighbours swapped.
    points = synthetic_landmarks(np.linspace(-5, 5, 17), width=30, height=16, gap=5, top=20, x0=96)
    vertebrae = points.reshape(17, 4, 2)
    t1_last = np.concatenate([vertebrae[1:], vertebrae[:1]]).reshape(68, 2)
    l4_l5_swapped = vertebrae[[*range(15), 16, 15]].reshape(68, 2)
    assert np.array_equal(top_to_bottom(t1_last), points)
    assert np.array_equal(top_to_bottom(l4_l5_swapped), points)
    assert np.array_equal(top_to_bottom(points), points)


def test_the_training_targets_of_the_aasce_films_listed_out_of_order_run_top_to_bottom():
    labels = aasce_dir() / "labels.csv"
    if not labels.exists():
        pytest.skip(f"AASCE data not at {labels.parent} (set AASCE_DATA_DIR)")
    samples = samples_from_labels_csv(labels.parent)
    listed_out_of_order = [s for s in samples if (np.diff(s.points.reshape(17, 4, 2).mean(axis=1)[:, 1]) < 0).any()]
    assert len(listed_out_of_order) == 24  # the data as released (19 with T1 listed last)
    films = DecodedFilms(listed_out_of_order, LandmarkTrainConfig().params())
    for points in films.points:
        # >= : on three of them two neighbours are labelled on (nearly) one vertebra, which no order repairs
        assert (np.diff(points.reshape(17, 4, 2).mean(axis=1)[:, 1]) >= 0).all()


def test_the_tilt_loss_charges_a_left_right_swap_the_most():
    target = torch.tensor([[1.0, 0.0]])
    angle = torch.tensor([0.0, 0.01, 0.5, np.pi / 2, np.pi - 0.5, np.pi])
    axes = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    err = tilt_error(axes, target)
    assert torch.all(torch.diff(err) > 0)  # grows all the way round to the swap
    assert err[0] == 0 and abs(float(err[1]) - 0.01) < 1e-4 and abs(float(err[-1]) - 2) < 1e-6


def test_one_unusual_validation_film_does_not_move_the_limits():
    rng = np.random.default_rng(3)
    typical = [column_evidence(confidence=rng.uniform(0.45, 0.65, 17), ood=float(d))
               for d in rng.uniform(18, 24, 40)]
    odd = column_evidence(confidence=np.r_[np.full(16, 0.6), 0.08], ood=60.0)  # far out, one faint vertebra
    config = LandmarkTrainConfig()
    usual, _ = fit_thresholds(typical, config)
    with_odd, _ = fit_thresholds(typical + [odd], config)
    assert 18 * 1.5 < usual.ood_distance < 24 * 2  # well beyond the typical films, short of the odd one
    assert with_odd.ood_distance == pytest.approx(usual.ood_distance, rel=0.05)
    assert with_odd.min_confidence == pytest.approx(usual.min_confidence, rel=0.1)
    assert not_measured_reason(odd, with_odd) == NotMeasured.OUT_OF_DISTRIBUTION


@pytest.mark.filterwarnings("ignore:Only one sample available")  # the one-film Gaussian below
def test_the_ood_scorer_is_fitted_on_every_training_film(tiny_landmark_run):
    samples, result, _ = tiny_landmark_run
    config = LandmarkTrainConfig(**{**TINY, "ood_fit_films": None, "ood_neighbours": 5})
    films = DecodedFilms(samples, config.params())
    model = copy.deepcopy(result.model)
    features = torch.from_numpy(pooled_features(model, films, [0, 1], config.params()))
    parts = fit_serving_parts(model, samples, films, [0, 1], [1], config)
    assert isinstance(parts.ood, NearestFilmsOOD) and parts.ood.reference.shape[0] == 2
    one = fit_serving_parts(model, samples, films, [0, 1], [1], replace(config, ood_fit_films=1))
    assert one.ood.reference.shape[0] == 1
    gauss = fit_serving_parts(model, samples, films, [0, 1], [1], replace(config, ood_neighbours=0))
    assert isinstance(gauss.ood, MahalanobisOOD)
    assert torch.allclose(gauss.ood.means[0], features.mean(dim=0), atol=1e-5)
    assert parts.val_metrics["measured_share"] in (0.0, 1.0)


def test_thresholds_round_trip_through_metadata():
    assert MeasurabilityThresholds.from_dict(LIMITS.to_dict()) == LIMITS


def test_rotation_moves_landmarks_with_the_pixels():
    img = np.zeros((120, 80), dtype=np.float32)
    img[30, 60] = 1.0
    rotated = np.asarray(Image.fromarray(img, mode="F").rotate(25, center=(40, 60)), dtype=np.float32)
    y, x = np.unravel_index(np.argmax(rotated), rotated.shape)
    moved = rotate_points(np.array([[60.5, 30.5]]), 25, (40, 60))[0]
    assert abs(moved[0] - (x + 0.5)) <= 1.0 and abs(moved[1] - (y + 0.5)) <= 1.0


def test_the_corner_window_is_less_pulled_towards_the_peak_cell_than_the_confidence_window():
    # A heat-map spread like a trained one (sigma 1.5 cells) around a point between cells.
    h, w, true = 48, 24, torch.tensor([10.4, 20.3])
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    heat = (-((xs - true[0]) ** 2 + (ys - true[1]) ** 2) / (2 * 1.5 ** 2)).expand(1, 17, h, w).clone()
    offsets = torch.zeros(1, 17, 8, h, w)
    narrow = peak_landmarks(heat, offsets)[0]
    wide = peak_landmarks(heat, offsets, window=CORNER_WINDOW)[0]
    error = {name: float((d.centres[0] / STRIDE - true).norm()) for name, d in (("narrow", narrow), ("wide", wide))}
    assert CORNER_WINDOW > PEAK_WINDOW and error["wide"] < 0.6 * error["narrow"] and error["wide"] < 0.1
    # The confidence the thresholds read is still the peak window's mass.
    assert torch.equal(narrow.confidence, peak_landmarks(heat, offsets, window=PEAK_WINDOW)[0].confidence)
    assert float(narrow.confidence[0]) < float(wide.confidence[0])


def test_mirroring_swaps_left_and_right_corners():
    pts = synthetic_landmarks(np.zeros(17))
    flipped = flip_landmarks(pts, width=600).reshape(17, 4, 2)
    assert (flipped[:, 0, 0] < flipped[:, 1, 0]).all()  # top-left is still left of top-right
    assert np.allclose(flipped[:, 0, 0], 600 - pts.reshape(17, 4, 2)[:, 1, 0])


def _decoded(corners: np.ndarray, confidence: np.ndarray) -> DecodedLandmarks:
    c = torch.as_tensor(corners, dtype=torch.float32)
    return DecodedLandmarks(c, c.mean(dim=1), torch.as_tensor(confidence, dtype=torch.float32))


def test_unmirroring_maps_a_mirrored_answer_back_with_left_and_right_corners_swapped():
    corners = synthetic_landmarks(np.linspace(-8, 8, 17), width=30, height=16, gap=5, top=20, x0=70).reshape(17, 4, 2)
    plain = _decoded(corners, np.full(17, 0.5))
    mirrored = _decoded(flip_landmarks(corners.reshape(-1, 2), 192).reshape(17, 4, 2), np.full(17, 0.5))
    back = unmirror(mirrored, 192)
    assert torch.allclose(back.corners, plain.corners, atol=1e-4)
    assert torch.allclose(back.centres, plain.centres, atol=1e-4)


def test_mirror_average_averages_agreeing_vertebrae_and_keeps_the_surer_of_two_that_disagree():
    corners = synthetic_landmarks(np.zeros(17), width=30, height=16, gap=5, top=20, x0=96).reshape(17, 4, 2)
    shifted = corners.copy()
    shifted[:, :, 0] += 2.0  # every vertebra 2 px to the right: they agree
    shifted[6] = corners[7]  # vertebra 6's map peaked on vertebra 7: a whole step away
    conf_plain, conf_mirror = np.full(17, 0.5), np.full(17, 0.5)
    conf_mirror[6] = 0.2
    out = mirror_average(_decoded(corners, conf_plain), _decoded(shifted, conf_mirror))
    assert np.allclose(out.corners[0].numpy(), corners[0] + [1.0, 0.0], atol=1e-4)
    assert np.allclose(out.corners[6].numpy(), corners[6], atol=1e-4)  # the surer (plain) answer, not a blend
    assert float(out.confidence[6]) == pytest.approx(0.5)
    conf_mirror[6] = 0.9
    out = mirror_average(_decoded(corners, conf_plain), _decoded(shifted, conf_mirror))
    assert np.allclose(out.corners[6].numpy(), corners[7], atol=1e-4)


def test_augmentation_keeps_landmarks_on_their_vertebrae():
    gray, pts = synthetic_film(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(10):
        out, moved = LandmarkTrainAugmentation()(gray, pts, rng)
        h, w = out.shape
        centres = moved.reshape(17, 4, 2).mean(axis=1)
        assert ((centres >= 0) & (centres < [w, h])).all()
        # Vertebrae are bright on a dark film: the pixel under each centre stays bright.
        values = [out[int(cy), int(cx)] for cx, cy in centres]
        assert np.median(values) > 0.4


def test_canvas_mapping_round_trips():
    params = PreprocessParams(input_size=128, input_width=64)
    gray = np.random.default_rng(0).random((300, 110)).astype(np.float32)
    _, box = preprocess_with_box(gray, params)
    pts = np.array([[10.0, 20.0], [100.0, 290.0]])
    back = canvas_to_image(image_to_canvas(pts, box, (110, 300)), box, (110, 300))
    assert np.allclose(back, pts, atol=1e-6)


def test_tiny_seeded_run_overfits_two_films(tiny_landmark_run):
    _, result, _ = tiny_landmark_run
    first, last = result.history[0], result.history[-1]
    assert last["points"] < 0.4 * first["points"]
    assert last["heat"] < first["heat"]


def test_checkpoint_round_trip_gives_the_same_landmarks(tiny_landmark_run):
    samples, result, data = tiny_landmark_run
    loaded = LandmarkPredictor.from_checkpoint(data)
    assert loaded.metadata["kind"] == "landmarks"
    assert loaded.metadata["preprocessing"]["input_size"] == 128
    a, b = result.predictor.measure(samples[0].read()), loaded.measure(samples[0].read())
    assert np.allclose(a.canvas_landmarks, b.canvas_landmarks, atol=1e-4)
    assert a.not_measured == b.not_measured


def test_measured_corners_of_a_film_and_of_its_mirror_image_are_mirrors(tiny_landmark_run):
    _, result, data = tiny_landmark_run
    predictor = LandmarkPredictor.from_checkpoint(data)
    gray, _ = synthetic_film(seed=0)
    pixels = (gray * 255).astype(np.uint8)
    a = predictor.measure(pixels).canvas_landmarks.reshape(17, 4, 2)
    b = predictor.measure(pixels[:, ::-1].copy()).canvas_landmarks
    b = flip_landmarks(b, 64).reshape(17, 4, 2)
    assert np.abs(a - b).max() < 0.05


def test_the_angles_are_measured_on_the_refined_corners_and_the_checks_read_the_films_own(tiny_landmark_run):
    samples, result, _ = tiny_landmark_run
    predictor = result.predictor
    films = DecodedFilms(samples[:1], predictor.params)
    tensor, _ = preprocess_with_box(films.gray(0), predictor.params)
    ev = predictor.evidence(tensor.unsqueeze(0))[0]
    assert ev.refined_corners is not None and ev.refined_corners.shape == ev.corners.shape == (17, 4, 2)
    assert not np.allclose(ev.refined_corners, ev.corners)  # the mirror image's answer moved them
    assert np.array_equal(ev.measured_corners, ev.refined_corners)
    assert np.array_equal(replace(ev, refined_corners=None).measured_corners, ev.corners)
    # Refining never changes the decision: a column whose own answer is out of order is refused
    # even when the averaged corners would pass.
    shuffled = replace(column_evidence(order=[1, 0] + list(range(2, 17))), refined_corners=column_evidence().corners)
    assert not_measured_reason(shuffled, LIMITS) == NotMeasured.IMPLAUSIBLE_GEOMETRY
    measured = predictor.measure(films.images[0])
    assert np.allclose(measured.canvas_landmarks, ev.refined_corners.reshape(-1, 2), atol=1e-3)


def test_not_measured_result_carries_no_angle_or_landmarks(tiny_landmark_run):
    _, result, _ = tiny_landmark_run
    r = result.predictor.measure(np.zeros((300, 120), dtype=np.uint8) + 40, view_position="LAT")
    assert r.not_measured == NotMeasured.LATERAL_VIEW
    out = r.to_dict()
    assert out["cobb"] == {"pt": None, "mt": None, "tl": None}
    assert out["largest"] is None and out["landmarks"] is None


def test_tampered_or_classifier_checkpoint_is_refused(tiny_landmark_run):
    _, _, data = tiny_landmark_run
    classifier = io.BytesIO()
    save_checkpoint(classifier, {"w": torch.zeros(2)}, {}, {"labels": ["a", "b"]})  # the classifier format
    with pytest.raises(CheckpointError, match="landmark"):
        LandmarkPredictor.from_checkpoint(classifier.getvalue())
    with pytest.raises(CheckpointError):
        LandmarkPredictor.from_checkpoint(data[: len(data) // 2])


def test_overlay_draws_outlines_and_end_vertebra_endplates():
    from inference.engine.cobb import cobb_angles
    from inference.engine.landmark_overlay import ENDPLATE, OUTLINE, landmark_overlay_png

    gray, pts = synthetic_film(seed=5)
    measurement = cobb_angles(pts, image_height=gray.shape[0])
    png = landmark_overlay_png(gray, pts, measurement)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape[:2] == gray.shape
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert OUTLINE in colours and ENDPLATE in colours


SHIPPED = Path(__file__).resolve().parents[2] / "models" / "landmarks.pt"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="models/landmarks.pt not shipped yet")
def test_shipped_landmark_model_loads_with_its_thresholds_and_answers():
    predictor = LandmarkPredictor.from_checkpoint(SHIPPED)
    assert predictor.metadata["kind"] == "landmarks" and predictor.metadata["held_out_fold"] == 0
    assert predictor.limits.min_confidence > 0 and np.isfinite(predictor.limits.ood_distance)
    for blank in (np.full((800, 400), 128, np.uint8), np.random.default_rng(0).integers(0, 255, (800, 400), dtype=np.uint8)):
        assert predictor.measure(blank).not_measured == NotMeasured.OUT_OF_DISTRIBUTION
    gray, _ = synthetic_film(seed=11)
    result = predictor.measure((gray * 255).astype(np.uint8))
    # A synthetic drawing is not an AP film: whatever it says, it never pairs a reason with an angle.
    assert (result.not_measured is None) == (result.measurement is not None)


def _write(tmp_path, data: bytes):
    path = tmp_path / "earlier.pt"
    path.write_bytes(data)
    return path


def test_warm_start_begins_from_the_earlier_checkpoints_weights(tiny_landmark_run, tmp_path):
    samples, earlier, data = tiny_landmark_run
    path = _write(tmp_path, data)
    warm = train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "time_budget_s": 0.0}, init_checkpoint=str(path)))
    cold = train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "time_budget_s": 0.0}))
    want = earlier.model.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in warm.model.state_dict().items())
    assert not all(torch.equal(v, want[k]) for k, v in cold.model.state_dict().items())
    assert warm.metadata["training"]["init_checkpoint"] == str(path)
    assert warm.metadata["training"]["init_checkpoint_sha256"] == hashlib.sha256(data).hexdigest()


def test_warm_started_first_step_has_the_loaded_models_loss(tiny_landmark_run, tmp_path):
    samples, earlier, data = tiny_landmark_run
    config = LandmarkTrainConfig(**{**TINY, "max_epochs": 1}, init_checkpoint=str(_write(tmp_path, data)))
    films = DecodedFilms(samples, config.params())
    inputs, targets = zip(*[canvas_targets(films.gray(i), films.points[i], config.params()) for i in range(2)],
                          strict=True)
    model = copy.deepcopy(earlier.model).train()  # a training step sees batch statistics,
    model.stem.eval()  # except in the always-frozen stem
    with torch.no_grad():
        heat, offsets, _ = model(torch.stack(inputs))
        expected, _ = landmark_loss(heat, offsets, torch.from_numpy(np.stack(targets).astype(np.float32)), config)
    warm = train_landmarks(samples, config)
    cold = train_landmarks(samples, replace(config, init_checkpoint=None))
    assert warm.history[0]["steps"] == 1
    assert warm.history[0]["loss"] == pytest.approx(float(expected), rel=1e-3)
    assert cold.history[0]["loss"] != pytest.approx(float(expected), rel=0.05)


def test_warm_start_refuses_a_checkpoint_of_another_shape(tiny_landmark_run, tmp_path):
    samples, _, data = tiny_landmark_run
    path = _write(tmp_path, data)
    with pytest.raises(CheckpointError, match="init checkpoint"):
        train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "time_budget_s": 0.0, "head_width": 24},
                                                     init_checkpoint=str(path)))
    classifier = tmp_path / "classifier.pt"
    save_checkpoint(classifier, {"w": torch.zeros(2)}, {}, {"labels": ["a", "b"]})
    with pytest.raises(CheckpointError):
        train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "time_budget_s": 0.0}, init_checkpoint=str(classifier)))


def test_a_step_budget_stops_at_that_step_whatever_the_clock_says(tiny_landmark_run):
    samples, _, _ = tiny_landmark_run  # two films, batch 2: one step per epoch
    stepped = train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "max_epochs": 50, "max_steps": 3}))
    assert stepped.metadata["training"]["steps"] == 3
    assert stepped.metadata["training"]["max_steps"] == 3
    assert [r["steps"] for r in stepped.history] == [1, 2, 3]
    # the wall clock still caps a step-budgeted run
    capped = train_landmarks(samples, LandmarkTrainConfig(**{**TINY, "time_budget_s": 0.0, "max_steps": 3}))
    assert capped.metadata["training"]["steps"] == 0


def _angled(largest: float | None) -> LandmarkSample:
    angles = None if largest is None else (5.0, largest, 3.0)
    return LandmarkSample(b"", np.zeros((68, 2)), group="g", angles=angles)


def test_an_epoch_draws_each_severe_curve_severe_repeat_times_and_every_other_film_once():
    films = [_angled(12.0), _angled(50.0), _angled(None), _angled(77.0), _angled(49.9)]
    assert epoch_films(films, LandmarkTrainConfig(severe_repeat=1)) == [0, 1, 2, 3, 4]
    assert LandmarkTrainConfig().severe_repeat == 2  # the recipe's default
    drawn = epoch_films(films, LandmarkTrainConfig(severe_repeat=3))
    assert sorted(drawn) == [0, 1, 1, 1, 2, 3, 3, 3, 4]
    assert sorted(epoch_films(films, LandmarkTrainConfig(severe_repeat=2, severe_angle=10.0))) == [0, 0, 1, 1, 2, 3, 3, 4, 4]


def test_severe_repeat_below_one_is_refused():
    with pytest.raises(ValueError, match="severe_repeat"):
        LandmarkTrainConfig(severe_repeat=0)
