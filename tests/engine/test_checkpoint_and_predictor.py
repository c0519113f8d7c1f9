from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
import torch

from inference.engine import CheckpointError, Predictor, load_checkpoint, save_checkpoint
from inference.engine.checkpoint import FORMAT
from tests.images import png_bytes
from training.engine import infer

from .conftest import synthetic_spine


def test_checkpoint_round_trip_reproduces_the_trained_model(tiny_training):
    result, data = tiny_training
    predictor = Predictor.from_checkpoint(io.BytesIO(data))
    assert predictor.labels == ["curved", "straight"]
    assert predictor.metadata["architecture"] == "tf_efficientnet_lite0"
    assert predictor.metadata["preprocessing"]["input_size"] == 64
    assert predictor.metadata["data"]["fingerprint_sha256"]
    assert predictor.metadata["library_versions"]["torch"] == torch.__version__
    grays = [np.asarray(synthetic_spine(True, 11), np.float32) / 255.0]
    expected, _ = infer(result.model, grays, result.params)
    from inference.engine.model import forward_with_features
    from inference.engine.preprocessing import preprocess

    with torch.inference_mode():
        actual, _ = forward_with_features(predictor.model, preprocess(grays[0], predictor.params)[None])
    torch.testing.assert_close(actual, torch.from_numpy(expected))


def test_checkpoint_is_plain_data_loadable_with_weights_only(tiny_checkpoint):
    payload = torch.load(io.BytesIO(tiny_checkpoint), weights_only=True)
    assert payload["format"] == FORMAT


def test_sha256_identifies_the_file(tiny_checkpoint):
    import hashlib

    assert Predictor.from_checkpoint(tiny_checkpoint).checkpoint_sha256 == hashlib.sha256(tiny_checkpoint).hexdigest()


def test_tampered_metadata_is_refused(tiny_checkpoint):
    payload = torch.load(io.BytesIO(tiny_checkpoint), weights_only=True)
    meta = json.loads(payload["metadata_json"])
    meta["labels"] = ["scoliosis", "normal"]
    payload["metadata_json"] = json.dumps(meta, sort_keys=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(CheckpointError, match="integrity"):
        Predictor.from_checkpoint(buffer.getvalue())


def test_tampered_weights_are_refused(tiny_checkpoint):
    payload = torch.load(io.BytesIO(tiny_checkpoint), weights_only=True)
    payload["state_dict"]["classifier.bias"] += 1.0
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(CheckpointError, match="integrity"):
        load_checkpoint(buffer.getvalue())


def test_mismatched_architecture_is_refused(tiny_checkpoint):
    loaded = load_checkpoint(tiny_checkpoint)
    meta = dict(loaded.metadata, architecture="tf_efficientnet_lite1")
    buffer = io.BytesIO()
    save_checkpoint(buffer, loaded.state_dict, loaded.ood_state, meta)  # consistent digest, wrong weights
    with pytest.raises(CheckpointError, match="does not match"):
        Predictor.from_checkpoint(buffer.getvalue())


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize(
    "content",
    [b"garbage bytes", b"", pickle.dumps(_Evil()), pickle.dumps({"format": "other"})],
    ids=["garbage", "empty", "pickle-with-code", "foreign-dict"],
)
def test_not_a_checkpoint_is_refused(content):
    with pytest.raises(CheckpointError):
        Predictor.from_checkpoint(content)


def test_truncated_checkpoint_is_refused(tiny_checkpoint):
    with pytest.raises(CheckpointError):
        Predictor.from_checkpoint(tiny_checkpoint[: len(tiny_checkpoint) // 2])


def test_missing_checkpoint_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Predictor.from_checkpoint(tmp_path / "missing.pt")


def test_predict_returns_calibrated_probabilities(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    result = predictor.predict(png_bytes(pixels=synthetic_spine(False, 21)))
    assert set(result.probabilities) == set(predictor.labels)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.confidence == max(result.probabilities.values())
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert result.heatmap is None and result.overlay_png is None
    assert {"preprocess", "inference"} <= set(result.timings_ms)


def test_predict_batch_matches_single_predictions(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    images = [synthetic_spine(i % 2 == 1, 30 + i) for i in range(3)]
    batch = predictor.predict_batch(images)
    for image, result in zip(images, batch, strict=True):
        single = predictor.predict(image)
        assert single.label == result.label
        assert single.ood_score == pytest.approx(result.ood_score, rel=1e-4)


def test_a_predictor_built_from_a_live_model_freezes_its_weights(tiny_training):
    """Grad-CAM then back-propagates to activations only; weight gradients would double its cost."""
    import copy

    result, _ = tiny_training
    model = copy.deepcopy(result.model).train()
    assert any(p.requires_grad for p in model.parameters())
    predictor = Predictor(model, result.ood, result.metadata, sha256="live")
    assert not predictor.model.training and not any(p.requires_grad for p in predictor.model.parameters())
    gradcam = predictor.predict(synthetic_spine(True, 40), gradcam=True)
    assert gradcam.heatmap is not None and all(p.grad is None for p in predictor.model.parameters())
