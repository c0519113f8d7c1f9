from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from inference.engine import ImageDecodeError, PreprocessParams, load_image, preprocess
from inference.engine.preprocessing import decode_image, preprocess_with_box
from tests.images import png_bytes
from training.engine import RadiographTrainAugmentation, Sample
from training.engine.data import DecodedCache, RadiographDataset

from .conftest import synthetic_spine


def test_sixteen_bit_png_decodes_like_its_eight_bit_version():
    base = synthetic_spine(False, 0).astype(np.uint16)
    sixteen = load_image(png_bytes(pixels=(base * 257).astype("<u2")))
    eight = load_image(png_bytes(pixels=base.astype(np.uint8)))
    assert sixteen.dtype == np.float32
    np.testing.assert_allclose(sixteen, eight, atol=1e-3)


def test_colour_tint_is_removed_by_grayscale_conversion():
    gray = synthetic_spine(True, 1)
    tinted = np.stack([gray, (gray * 0.8).astype(np.uint8), (gray * 0.6).astype(np.uint8)], axis=2)
    out_tinted = preprocess(load_image(tinted))
    out_gray = preprocess(load_image(gray))
    assert out_tinted.shape == (3, 256, 256)
    assert torch.equal(out_tinted[0], out_tinted[1])  # one channel replicated
    # After contrast normalisation a uniform tint leaves (almost) nothing behind.
    assert (out_tinted - out_gray).abs().mean() < 0.02


def test_resize_keeps_aspect_ratio_and_pads_black():
    tall = np.full((400, 100), 200, dtype=np.uint8)
    tensor, box = preprocess_with_box(load_image(tall), PreprocessParams(input_size=128))
    assert (box.height, box.width) == (128, 32)
    params = PreprocessParams()
    assert tensor[0, 0, 0].item() == pytest.approx((0 - params.mean) / params.std)


def test_tall_canvas_fits_width_limited_images():
    wide = np.full((100, 400), 200, dtype=np.uint8)
    tensor, box = preprocess_with_box(load_image(wide), PreprocessParams(input_size=128, input_width=64))
    assert tensor.shape == (3, 128, 64)
    assert (box.height, box.width) == (16, 64)


@pytest.mark.parametrize(
    "source, message",
    [
        (b"this is not an image", "not a readable image"),
        (b"", "empty"),
        (png_bytes(pixels=synthetic_spine(False, 0))[:200], "corrupt or truncated"),
        (b"\0" * 128 + b"DICM" + b"\0" * 64, "DICOM"),
    ],
)
def test_unreadable_inputs_raise_decode_error_with_actionable_message(source, message):
    with pytest.raises(ImageDecodeError, match=message):
        load_image(source)


def test_missing_file_raises_decode_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_all_source_kinds_give_identical_pixels(tmp_path):
    array = synthetic_spine(True, 3)
    data = png_bytes(pixels=array)
    path = tmp_path / "x, with comma.PNG"
    path.write_bytes(data)
    reference = load_image(array)
    for source in (path, str(path), data, io.BytesIO(data), Image.open(io.BytesIO(data))):
        np.testing.assert_array_equal(load_image(source), reference)


def test_original_size_is_reported_even_when_decoding_smaller():
    big = np.zeros((1600, 500), dtype=np.uint8)
    decoded = decode_image(png_bytes(pixels=big), max_side=640)
    assert decoded.original_size == (500, 1600)
    assert max(decoded.pixels.shape) == 640


def test_training_dataset_and_serving_share_preprocessing(tmp_path):
    """Train/serve parity: the un-augmented training tensor equals the serving tensor."""
    data = png_bytes(pixels=synthetic_spine(False, 5))
    params = PreprocessParams(input_size=96)
    dataset = RadiographDataset([Sample(data, "normal")], ["normal"], params, augment=None,
                                cache=DecodedCache([Sample(data, "normal")], params))
    train_tensor, _ = dataset[0]
    serve_tensor = preprocess(load_image(io.BytesIO(data), params.decode_max_side), params)
    assert torch.equal(train_tensor, serve_tensor)


def test_identity_augmentation_is_a_no_op_before_shared_preprocessing():
    aug = RadiographTrainAugmentation(p_band_crop=0, p_height_crop=0, p_pad=0, p_rotate=0, p_flip=0,
                                      p_annotation=0, p_blur=0, gamma=(1.0, 1.0), contrast=(1.0, 1.0),
                                      brightness=0.0, noise_std=0)
    gray = load_image(synthetic_spine(True, 2))
    out = aug(gray, np.random.default_rng(0))
    assert torch.equal(preprocess(out), preprocess(gray))


def test_augmentation_changes_framing_and_stays_in_range():
    aug = RadiographTrainAugmentation()
    gray = load_image(synthetic_spine(True, 2))
    rng = np.random.default_rng(0)
    outs = [aug(gray, rng) for _ in range(20)]
    assert all(o.dtype == np.float32 and 0.0 <= o.min() and o.max() <= 1.0 for o in outs)
    aspects = {round(o.shape[0] / o.shape[1], 1) for o in outs}
    assert len(aspects) > 3  # aspect ratio is no longer a constant per class
