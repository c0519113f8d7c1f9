from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from inference.engine import MahalanobisOOD, OODDetector, Predictor, StyleOOD
from inference.engine.ood import NearestFilmsOOD, feature_ood_from_state
from training.engine import samples_from_folder

from .conftest import DEFAULT_MODEL, data_dir, requires_data, requires_default_model


def test_mahalanobis_score_grows_with_distance_from_class_means():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(0, 1, (50, 8)), rng.normal(5, 1, (50, 8))])
    labels = np.repeat([0, 1], 50)
    ood = MahalanobisOOD.fit(feats, labels, 2)
    near, far = ood.score(torch.tensor([[0.0] * 8, [50.0] * 8]))
    assert near < 4 < far


def test_nearest_films_keep_a_rare_real_kind_in_and_an_unseen_kind_out():
    # 200 usual films and 8 of a rare kind (severe curves, say) off along one axis: far from the
    # centre, near each other. A new film of the rare kind is near its like, far from the centre.
    rng = np.random.default_rng(0)
    usual = rng.normal(0, 1, (200, 6))
    rare = rng.normal(0, 1, (8, 6)) * 0.3 + np.array([7.0, 0, 0, 0, 0, 0])
    feats = np.concatenate([usual, rare])
    centre_ood = MahalanobisOOD.fit(feats, np.zeros(len(feats), dtype=int), 1)
    nearest = NearestFilmsOOD.fit(feats, k=5)
    queries = torch.tensor([[0.0] * 6, [7.2, 0.1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 7.0]])  # usual, rare, unseen
    by_centre, by_nearest = centre_ood.score(queries), nearest.score(queries)
    assert by_centre[1] > by_centre[0] * 2  # the centre's distance puts the rare kind far out
    assert by_nearest[1] < by_nearest[0] * 2 < by_nearest[2]  # its nearest films do not; the unseen kind stays out
    # The distance is the mean whitened distance to the k nearest films, and survives its state.
    whitened = (feats - feats.mean(axis=0)) @ nearest.whitening.double().numpy()
    q = (queries.double().numpy() - feats.mean(axis=0)) @ nearest.whitening.double().numpy()
    brute = np.sort(np.linalg.norm(q[:, None] - whitened[None], axis=2), axis=1)[:, :5].mean(axis=1)
    assert np.allclose(by_nearest.numpy(), brute, rtol=1e-3)
    restored = feature_ood_from_state(nearest.to_state())
    assert isinstance(restored, NearestFilmsOOD) and restored.k == 5
    assert torch.allclose(restored.score(queries), by_nearest)
    assert isinstance(feature_ood_from_state(centre_ood.to_state()), MahalanobisOOD)  # older checkpoints
    assert NearestFilmsOOD.fit(feats[:3], k=5).k == 3
    with pytest.raises(ValueError, match="k >= 1"):
        NearestFilmsOOD.fit(feats, k=0)


def test_style_detector_and_the_combined_relative_score():
    rng = np.random.default_rng(0)
    semantic = MahalanobisOOD.fit(rng.normal(0, 1, (60, 4)), np.repeat([0, 1], 30), 2)
    semantic.threshold = 10.0
    style = StyleOOD.fit(rng.normal(0, 1, (60, 6)))
    style.threshold = 5.0
    detector = OODDetector(semantic, style)
    features = torch.zeros((2, 4))
    styles = torch.tensor([[0.0] * 6, [40.0] * 6])  # same content, the second not a radiograph's texture
    plain, odd = detector.score(features, styles)
    assert plain < 1.0 < odd
    assert odd == pytest.approx(float(style.score(styles[1:])) / 5.0)
    # A checkpoint made before the style detector existed: semantic score alone, relative.
    old = OODDetector.from_state(semantic.to_state())
    assert old.style is None
    assert float(old.score(features, styles)[1]) == pytest.approx(float(semantic.score(features[1:])) / 10.0)
    restored = OODDetector.from_state(detector.to_state())
    assert torch.allclose(restored.score(features, styles), detector.score(features, styles))
    # With a confidence floor (outlier-exposure models) a near-uniform answer is flagged too.
    floored = OODDetector(semantic, style, confidence_floor=0.5)
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.36, 0.33, 0.31]])
    sure, unsure = floored.score(features, styles[:1].repeat(2, 1), probs)
    assert sure < 1.0 < unsure and unsure == pytest.approx(0.64 / 0.5)
    assert OODDetector.from_state(floored.to_state()).confidence_floor == 0.5
    assert "confidence_floor" not in detector.to_state()


def test_checkpoint_carries_both_detectors(tiny_checkpoint):
    from inference.engine import load_checkpoint

    loaded = load_checkpoint(tiny_checkpoint)
    assert {"means", "precision", "threshold", "style_mean", "style_precision", "style_threshold"} <= set(loaded.ood_state)
    assert "confidence_floor" not in loaded.ood_state  # trained without outlier exposure
    style = loaded.metadata["ood"]["style"]
    assert style["threshold"] == pytest.approx(loaded.ood_state["style_threshold"]) and "cross-fitted" in style["threshold_source"]


def test_synthetic_non_spine_inputs_are_flagged(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    rng = np.random.default_rng(0)
    probes = [
        rng.integers(0, 256, (200, 200), dtype=np.uint8),  # noise
        np.full((200, 200), 255, np.uint8),  # blank
        skimage.data.astronaut(),  # colour photo
        skimage.data.text(),  # text
    ]
    assert all(r.out_of_distribution for r in predictor.predict_batch(probes))


def test_training_images_fall_below_the_fitted_threshold(tiny_checkpoint, synthetic_samples):
    """The threshold is fitted on training features: those images must not be flagged."""
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    results = predictor.predict_batch([s.read() for s in synthetic_samples])
    assert not any(r.out_of_distribution for r in results)


@requires_default_model
@requires_data
def test_default_model_flags_non_spine_images_but_not_spine_radiographs():
    predictor = Predictor.from_checkpoint(DEFAULT_MODEL)
    rng = np.random.default_rng(1)
    probes = [rng.integers(0, 256, (300, 300), dtype=np.uint8), np.zeros((300, 300), np.uint8),
              skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
              skimage.data.camera(), skimage.data.page(), skimage.data.cat(), _ct_slice()]
    # Known misses (see models/MODEL_CARD.md): spine-free strips cut from torso radiographs mostly pass.
    assert all(r.out_of_distribution for r in predictor.predict_batch(probes))
    spines = [s.read() for s in samples_from_folder(data_dir())[::27]]  # 10 images across classes
    flagged = sum(r.out_of_distribution for r in predictor.predict_batch(spines))
    assert flagged <= 1


def _ct_slice() -> np.ndarray:
    """A real CT slice that pydicom's wheel ships: imaging, but not a spine radiograph."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    pixels = dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.float64)
    lo, hi = np.percentile(pixels, [1, 99])
    return (np.clip((pixels - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
