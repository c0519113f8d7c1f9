"""The one preprocessing definition shared by training, evaluation and serving.

Pipeline: decode (any supported source) -> grayscale float32 in [0, 1] -> aspect-preserving
resize into a square canvas -> percentile contrast stretch of the image content -> pad ->
replicate to 3 channels -> normalise with the backbone's mean/std.

Training augmentation (``training.engine.augment``) works on the decoded grayscale array and
then calls :func:`preprocess`, so no resize or normalisation step is ever written twice.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image, ImageOps

from inference.engine.limits import MAX_PIXELS

# Decoded radiographs are kept at most this large: enough head-room for the training crops
# (which keep >= 60 % of the height) at the default input size, cheap to decode via JPEG draft.
DECODE_MAX_SIDE = 640
DEFAULT_INPUT_SIZE = 256
# The packaged Lite weights were trained on inputs scaled to [-1, 1].
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.5
# Percentiles for the contrast stretch: robust to burnt-in white text and black collimation.
CONTRAST_LOW_PCT = 1.0
CONTRAST_HIGH_PCT = 99.0

ImageSource = str | os.PathLike | bytes | bytearray | IO[bytes] | Image.Image | np.ndarray


class ImageDecodeError(ValueError):
    """The input could not be read as a radiograph image; the message says what to do."""


@dataclass(frozen=True)
class DecodedImage:
    """Grayscale pixels in [0, 1] plus the size of the original image (width, height)."""

    pixels: np.ndarray
    original_size: tuple[int, int]


@dataclass(frozen=True)
class PreprocessParams:
    """Everything needed to reproduce preprocessing; stored in every checkpoint."""

    input_size: int = DEFAULT_INPUT_SIZE  # canvas height
    input_width: int | None = None  # canvas width; None = square. Spine films are tall.
    mean: float = DEFAULT_MEAN
    std: float = DEFAULT_STD
    decode_max_side: int = DECODE_MAX_SIDE
    contrast_low_pct: float = CONTRAST_LOW_PCT
    contrast_high_pct: float = CONTRAST_HIGH_PCT

    @property
    def canvas_shape(self) -> tuple[int, int]:
        return self.input_size, self.input_width or self.input_size

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessParams:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def _open_pil(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ImageDecodeError(f"file not found: {path}")
        data = path.read_bytes()
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            raise ImageDecodeError("file object must be opened in binary mode ('rb')")
    else:
        raise ImageDecodeError(f"unsupported image source type: {type(source).__name__}")
    if not data:
        raise ImageDecodeError("the file is empty (0 bytes)")
    if len(data) > 132 and data[128:132] == b"DICM":
        raise ImageDecodeError("DICOM files must be converted to PNG/JPEG before classification")
    try:
        image = Image.open(io.BytesIO(data))
        image.size  # noqa: B018 - touch the header so errors surface here
    except Exception as exc:  # PIL raises many types for garbage input
        raise ImageDecodeError(
            "not a readable image (expected JPEG or PNG): " + str(exc).split("\n")[0]
        ) from exc
    return image


def _pil_to_gray(image: Image.Image, max_side: int | None) -> np.ndarray:
    if image.width * image.height > MAX_PIXELS:
        raise ImageDecodeError(
            f"image is too large ({image.width}x{image.height}); resize below {MAX_PIXELS} pixels"
        )
    if max_side and image.format == "JPEG":
        # JPEG draft decodes at 1/2, 1/4, 1/8 scale: big films decode several times faster.
        image.draft("L", (max_side, max_side))
    try:
        image = ImageOps.exif_transpose(image)
        image.load()
    except Exception as exc:
        raise ImageDecodeError("image data is corrupt or truncated: " + str(exc)) from exc
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float32)
    else:
        # Luminance removes colour tints, a class shortcut in the source data.
        array = np.asarray(image.convert("L"), dtype=np.float32)
    return _fit_max_side(_to_unit_range(array), max_side)


def _to_unit_range(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float32, copy=False)
    lo, hi = float(array.min()), float(array.max())
    if hi - lo < 1e-6:
        return np.zeros_like(array, dtype=np.float32)
    return (array - lo) / (hi - lo)


def _ndarray_to_gray(array: np.ndarray, max_side: int | None) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.float32)
        array = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ImageDecodeError(f"array must be HxW or HxWx3, got shape {array.shape}")
    if min(array.shape) < 8:
        raise ImageDecodeError(f"image is too small ({array.shape[1]}x{array.shape[0]})")
    if not np.isfinite(array).all():
        raise ImageDecodeError("array contains NaN or infinite values")
    return _fit_max_side(_to_unit_range(array), max_side)


def _fit_max_side(gray: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = gray.shape
    if not max_side or max(h, w) <= max_side:
        return np.ascontiguousarray(gray, dtype=np.float32)
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(
        Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0),
        dtype=np.float32,
    )


def decode_image(source: ImageSource, max_side: int | None = DECODE_MAX_SIDE) -> DecodedImage:
    """Decode any supported source to grayscale [0, 1], remembering the original size."""
    if isinstance(source, np.ndarray):
        pixels = _ndarray_to_gray(source, max_side)
        return DecodedImage(pixels, (int(source.shape[1]), int(source.shape[0])))
    image = _open_pil(source)
    original = (int(image.width), int(image.height))
    if min(original) < 8:
        raise ImageDecodeError(f"image is too small ({original[0]}x{original[1]})")
    return DecodedImage(_pil_to_gray(image, max_side), original)


def load_image(source: ImageSource, max_side: int | None = DECODE_MAX_SIDE) -> np.ndarray:
    """Decode a path, bytes, file object, PIL image or array to grayscale float32 in [0, 1].

    Raises ImageDecodeError with a message a person can act on.
    """
    return decode_image(source, max_side).pixels


@dataclass(frozen=True)
class CanvasBox:
    """Where the image content sits inside the square canvas (pixels): top, left, height, width."""

    top: int
    left: int
    height: int
    width: int


def fit_to_canvas(gray: np.ndarray, canvas: tuple[int, int]) -> tuple[np.ndarray, CanvasBox]:
    """Aspect-preserving resize to fit a (height, width) canvas; returns the resized content."""
    h, w = gray.shape
    canvas_h, canvas_w = canvas
    scale = min(canvas_h / h, canvas_w / w)
    new_w, new_h = min(canvas_w, max(1, round(w * scale))), min(canvas_h, max(1, round(h * scale)))
    resized = Image.fromarray(gray.astype(np.float32, copy=False), mode="F").resize(
        (new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0
    )
    box = CanvasBox((canvas_h - new_h) // 2, (canvas_w - new_w) // 2, new_h, new_w)
    return np.asarray(resized, dtype=np.float32), box


def normalise_contrast(
    content: np.ndarray, low_pct: float = CONTRAST_LOW_PCT, high_pct: float = CONTRAST_HIGH_PCT
) -> np.ndarray:
    """Stretch the content's [low, high] percentiles to [0, 1] (exposure varies by hospital)."""
    lo, hi = np.percentile(content, [low_pct, high_pct])
    if hi - lo < 1e-4:
        return np.zeros_like(content)
    return np.clip((content - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def preprocess_with_box(
    gray: np.ndarray, params: PreprocessParams | None = None
) -> tuple[torch.Tensor, CanvasBox]:
    """Grayscale [0,1] HxW -> normalised 3xHxW canvas tensor and the content box (for heat-maps)."""
    params = params or PreprocessParams()
    content, box = fit_to_canvas(gray, params.canvas_shape)
    content = normalise_contrast(content, params.contrast_low_pct, params.contrast_high_pct)
    # Padding is black, like the collimated border of a radiograph.
    canvas = np.zeros(params.canvas_shape, dtype=np.float32)
    canvas[box.top : box.top + box.height, box.left : box.left + box.width] = content
    tensor = torch.from_numpy((canvas - params.mean) / params.std)
    return tensor.unsqueeze(0).expand(3, -1, -1).contiguous(), box


def preprocess(gray: np.ndarray, params: PreprocessParams | None = None) -> torch.Tensor:
    """Grayscale [0,1] HxW array (from :func:`load_image`) -> model input tensor 3xHxW."""
    return preprocess_with_box(gray, params)[0]


def preprocess_batch(
    grays: Sequence[np.ndarray], params: PreprocessParams | None = None
) -> torch.Tensor:
    return torch.stack([preprocess(g, params) for g in grays])
