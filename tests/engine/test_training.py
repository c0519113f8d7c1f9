from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from tests.images import png_bytes
from training.engine import (
    Sample,
    TrainConfig,
    cross_validate,
    evaluate_checkpoint,
    grouped_folds,
    samples_from_folder,
    train_model,
)
from training.engine.calibration import fit_temperature, softmax
from training.engine.metrics import compute_metrics, expected_calibration_error

from .conftest import data_dir, requires_data, synthetic_spine


def _write_folder(root, names):
    for folder, count in names.items():
        (root / folder).mkdir(parents=True)
        for i in range(count):
            (root / folder / f"img {i},x.JPG").write_bytes(png_bytes(pixels=synthetic_spine(i % 2 == 0, i)))


def test_samples_from_folder_maps_original_folder_names_and_groups(tmp_path):
    _write_folder(tmp_path, {"NormalFinal": 2, "ScolFinal": 2, "SpondFinal": 1, "notes": 0})
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "md5", "width", "height", "group"])
        writer.writerow(["ScolFinal/img 0,x.JPG", "scoliosis", "", "", "", "g1"])
        writer.writerow(["ScolFinal/img 1,x.JPG", "scoliosis", "", "", "", "g1"])
    samples = samples_from_folder(tmp_path)
    assert sorted({s.label for s in samples}) == ["normal", "scoliosis", "spondylolisthesis"]
    scol = [s for s in samples if s.label == "scoliosis"]
    assert {s.group for s in scol} == {"g1"}
    normal = [s for s in samples if s.label == "normal"]
    assert len({s.group for s in normal}) == 2  # ungrouped images are their own patient


def test_grouped_folds_never_split_a_patient():
    samples = [Sample(b"x", "a" if i % 3 else "b", group=f"p{i // 2}") for i in range(40)]
    for train_idx, val_idx in grouped_folds(samples, k=4):
        train_groups = {samples[i].group for i in train_idx}
        assert train_groups.isdisjoint({samples[i].group for i in val_idx})


def test_training_reports_progress_and_can_be_stopped(synthetic_samples):
    events = []
    config = TrainConfig(input_size=48, epochs=3, batch_size=4, pretrained=False, freeze_stages=0)
    result = train_model(synthetic_samples, None, config, progress=events.append,
                         should_stop=lambda: len(events) >= 3)
    assert result.cancelled and result.checkpoint is None
    assert {"epoch", "step", "total_steps", "loss"} <= set(events[0])


def test_training_reports_validation_metrics_per_epoch(tiny_training):
    result, _ = tiny_training
    assert len(result.history) == 3
    assert {"val_accuracy", "val_loss", "val_macro_f1"} <= set(result.history[-1])
    assert result.metrics["val"]["n"] == 4 and result.temperature > 0


def test_temperature_scaling_reduces_overconfidence():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 500)
    logits = rng.normal(0, 1, (500, 3))
    logits[np.arange(500), targets] += 1.0
    logits *= 6  # an overconfident model
    t = fit_temperature(logits, targets)
    assert t > 2
    assert expected_calibration_error(softmax(logits, t), targets) < expected_calibration_error(softmax(logits), targets)


def test_metrics_include_per_class_rates_and_intervals():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    targets = np.array([0, 1, 1, 1])
    m = compute_metrics(probs, targets, ["a", "b"], n_boot=50)
    assert m["accuracy"] == 0.75
    assert m["sensitivity_b"] == pytest.approx(2 / 3) and m["specificity_a"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[1, 0], [1, 2]]
    lo, hi = m["ci95"]["accuracy"]
    assert 0 <= lo <= hi <= 1


def test_cross_validation_produces_out_of_fold_predictions_for_every_image(synthetic_samples):
    config = TrainConfig(input_size=48, epochs=1, batch_size=4, pretrained=False, freeze_stages=0)
    cv = cross_validate(synthetic_samples, config, k=2, n_boot=10)
    assert cv.oof_logits.shape == (8, 2)
    assert sorted(set(cv.oof_fold)) == [0, 1]
    assert "ci95" in cv.summary["pooled"]


def test_evaluate_checkpoint_writes_metrics_and_plots(tiny_checkpoint, synthetic_samples, tmp_path):
    metrics = evaluate_checkpoint(io.BytesIO(tiny_checkpoint), synthetic_samples, tmp_path, n_boot=20)
    assert 0 <= metrics["accuracy"] <= 1 and "ci95" in metrics
    for name in ("metrics.json", "confusion_matrix.png", "reliability.png", "training_curves.png"):
        assert (tmp_path / name).is_file()


@requires_data
def test_real_data_folder_is_read_with_patient_groups():
    samples = samples_from_folder(data_dir())
    assert len(samples) == 270
    assert {s.label for s in samples} == {"normal", "scoliosis", "spondylolisthesis"}
    grouped = [s for s in samples if not s.group.startswith("img:")]
    assert grouped and len({s.group for s in grouped}) < len(grouped)


def test_outlier_exposure_crops_come_from_the_sides_of_wide_films():
    from inference.engine import PreprocessParams
    from training.engine.loop import OutlierCrops

    wide = np.zeros((200, 160), np.float32)
    wide[:, 70:90] = 1.0  # the "spine" in the middle
    crops = OutlierCrops([wide, np.zeros((300, 60), np.float32)], PreprocessParams(input_size=64), seed=0)
    assert len(crops.sources) == 1  # narrow films have no spine-free side
    batch = crops.sample(4)
    assert batch.shape == (4, 3, 64, 64)


def test_training_with_outlier_exposure_runs(synthetic_samples):
    wide = [Sample(png_bytes(pixels=np.pad(synthetic_spine(i % 2 == 0, i), ((0, 0), (60, 60)))), "curved" if i % 2 == 0 else "straight")
            for i in range(4)]
    config = TrainConfig(input_size=48, epochs=1, batch_size=4, pretrained=False, freeze_stages=0, outlier_exposure=0.5)
    result = train_model(wide, None, config)
    assert result.ood is not None and np.isfinite(result.ood.semantic.threshold)
    # Outlier exposure turns on the confidence-floor detector; plain training leaves it off.
    assert result.ood.confidence_floor == 0.5 and result.metadata["ood"]["confidence_floor"] == 0.5


def test_outlier_exposure_without_wide_films_leaves_the_confidence_floor_off():
    """No spine-free crops to learn from: a low top probability then means a hard film, not a foreign one."""
    narrow = [Sample(png_bytes(pixels=synthetic_spine(i % 2 == 0, i)), "curved" if i % 2 == 0 else "straight")
              for i in range(4)]  # 240 x 80: a column film, no side to crop
    config = TrainConfig(input_size=48, epochs=1, batch_size=4, pretrained=False, freeze_stages=0, outlier_exposure=0.5)
    result = train_model(narrow, None, config)
    assert result.ood.confidence_floor is None and result.metadata["ood"]["confidence_floor"] is None


def test_ood_threshold_comes_from_held_out_films_not_the_fitted_ones():
    from training.engine.loop import DEFAULT_OOD_MARGIN, _ood_threshold

    train = np.linspace(14.0, 15.0, 200)  # in-sample: the network and covariance hug these
    val = np.linspace(30.0, 60.0, 101)  # held-out spine films score far higher
    threshold, source = _ood_threshold(train, val, TrainConfig())
    assert threshold == pytest.approx(np.quantile(val, 0.97)) and "validation" in source
    assert (val > threshold).mean() <= 0.03
    threshold, source = _ood_threshold(train, None, TrainConfig())
    assert threshold == pytest.approx(np.quantile(train, 0.99) * DEFAULT_OOD_MARGIN) and "default margin" in source
    threshold, _ = _ood_threshold(train, val, TrainConfig(ood_margin=2.0))
    assert threshold == pytest.approx(np.quantile(train, 0.99) * 2.0)
    # Never below a training film's score, however few or low the validation scores.
    threshold, _ = _ood_threshold(train, np.array([1.0, 2.0]), TrainConfig())
    assert threshold == pytest.approx(15.0)


def test_model_from_checkpoint_keeps_backbone_and_shared_head_rows(tiny_checkpoint):
    import torch

    from inference.engine import CheckpointError, load_checkpoint
    from training.engine.loop import model_from_checkpoint

    loaded = load_checkpoint(tiny_checkpoint)
    old_labels = loaded.metadata["labels"]  # ["curved", "straight"]
    model, info = model_from_checkpoint(tiny_checkpoint, ["straight", "new", "curved"])
    state = model.state_dict()
    for key, value in loaded.state_dict.items():
        if not key.startswith("classifier."):
            assert torch.equal(state[key], value), key
    w = loaded.state_dict["classifier.weight"]
    assert torch.equal(state["classifier.weight"][0], w[old_labels.index("straight")])
    assert torch.equal(state["classifier.weight"][2], w[old_labels.index("curved")])
    assert info["checkpoint_sha256"] == loaded.sha256 and info["head_rows_copied"] == ["straight", "curved"]
    with pytest.raises(CheckpointError):
        model_from_checkpoint(tiny_checkpoint[:-100], ["curved"])


def test_training_can_start_from_a_checkpoint(synthetic_samples, tiny_checkpoint):
    from inference.engine import load_checkpoint

    config = TrainConfig(input_size=64, epochs=1, batch_size=4, pretrained=False, freeze_stages=0,
                         warmup_epochs=0, init_from=tiny_checkpoint)
    buffer = io.BytesIO()
    result = train_model(synthetic_samples, synthetic_samples[:4], config, checkpoint=buffer)
    meta = load_checkpoint(buffer.getvalue()).metadata
    assert meta["initialised_from"]["checkpoint_sha256"] == load_checkpoint(tiny_checkpoint).sha256
    assert "init_from" not in meta["training"] and result.metrics["val"]["accuracy"] >= 0
