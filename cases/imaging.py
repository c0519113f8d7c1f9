"""Check an uploaded radiograph by decoding it, and turn it into what we store.

Nothing here trusts a file's name or its declared content type: the format is read from the
bytes, the header is checked before any pixel is decoded (so a decompression bomb is refused
before it can allocate), then the pixels are decoded in full (so a truncated file is refused).
Every decode is bounded: pixels are kept at the smallest integer type that holds them, and
previews are made from a reduced copy, never from a float copy of the whole film. DICOM is read
in `cases.dicom`. No Django models, no storage: the service decides what to keep.
"""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageFile, UnidentifiedImageError

from cases.metadata import MetadataStripError, jpeg_strip_metadata, png_strip_metadata
from cases.models import ImageFormat

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE_PX = 320
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_OFFSET = 128

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class UploadRejected(Exception):
    """A file we refuse, with a message a clinician can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedImage:
    """A decoded, accepted upload and the bytes to store for it."""

    source_format: ImageFormat
    content_type: str  # of `image_bytes`, the file served as the radiograph
    image_bytes: bytes
    image_extension: str
    sha256: str  # of the bytes as uploaded: the same file twice is the same radiograph
    size_bytes: int
    width: int
    height: int
    bit_depth: int
    thumbnail_bytes: bytes
    dicom_deidentified_bytes: bytes | None = None
    # DICOM's BurnedInAnnotation: "NO" only when the file says so; "YES"; "" when unknown
    # (absent, or a JPEG/PNG, which has no such attribute).
    burned_in_annotation: str = ""


def max_upload_bytes() -> int:
    return int(getattr(settings, "UPLOAD_MAX_BYTES", 50 * 1024 * 1024))


def _min_side() -> int:
    return int(getattr(settings, "UPLOAD_MIN_SIDE_PX", 64))


def max_pixels() -> int:
    """The engine's pixel limit (settings.UPLOAD_MAX_PIXELS is read from it)."""
    return int(settings.UPLOAD_MAX_PIXELS)


def upload_read(*, uploaded: UploadedFile) -> bytes:
    """The upload's bytes, refusing empty and oversized files without reading past the limit."""
    limit = max_upload_bytes()
    if uploaded.size is not None and uploaded.size > limit:
        raise UploadRejected("too_large", too_large_message(limit))
    uploaded.seek(0)
    chunks: list[bytes] = []
    total = 0
    for chunk in uploaded.chunks():
        total += len(chunk)
        if total > limit:
            raise UploadRejected("too_large", too_large_message(limit))
        chunks.append(chunk)
    if total == 0:
        raise UploadRejected("empty", "The file is empty (0 bytes).")
    return b"".join(chunks)


def too_large_message(limit: int) -> str:
    return f"The file is larger than the {limit / (1024 * 1024):.0f} MB limit."


def image_check(*, data: bytes) -> CheckedImage:
    """Decode `data` as JPEG, PNG or DICOM and return what to store, or raise UploadRejected."""
    if not data:
        raise UploadRejected("empty", "The file is empty (0 bytes).")
    if len(data) > max_upload_bytes():
        raise UploadRejected("too_large", too_large_message(max_upload_bytes()))
    try:
        if data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM":
            from cases.dicom import dicom_check

            return dicom_check(data)
        if data.startswith(PNG_MAGIC):
            return _raster_check(data, ImageFormat.PNG)
        if data.startswith(JPEG_MAGIC):
            return _raster_check(data, ImageFormat.JPEG)
    except UploadRejected:
        raise
    except MemoryError as exc:
        raise UploadRejected("too_large", "The image is too large to decode.") from exc
    except Exception as exc:
        # Hostile input must never become a server error; the log keeps the bug for us to fix
        # (the traceback holds no file name: those may carry patient data).
        logger.exception("unexpected error while checking an upload")
        raise UploadRejected("corrupt", "The file could not be read as an image.") from exc
    raise UploadRejected(
        "unsupported_format",
        "This is not a JPEG, PNG or DICOM image (its content was checked, not its name).",
    )


def check_dimensions(width: int, height: int) -> None:
    """Refuse a header's dimensions before any pixel is decoded."""
    if width * height > max_pixels():
        raise UploadRejected(
            "too_many_pixels",
            f"The image claims {width}x{height} pixels, more than we accept "
            f"({max_pixels():,} pixels); it may be a decompression bomb.",
        )
    side = _min_side()
    if width < side or height < side:
        raise UploadRejected(
            "too_small",
            f"The image is {width}x{height} pixels; each side must be at least {side} px.",
        )


def _raster_check(data: bytes, fmt: ImageFormat) -> CheckedImage:
    name = "PNG" if fmt == ImageFormat.PNG else "JPEG"
    # Our own pixel limit is checked below; Pillow's warning threshold is lower and would be noise.
    # A truncated file must fail, whatever another module set globally.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise UploadRejected(
                "too_many_pixels",
                "The image claims more pixels than we accept; it may be a decompression bomb.",
            ) from exc
        except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
            raise UploadRejected("corrupt", f"The file starts like a {name} but cannot be read.") from exc
        if image.format not in ("PNG", "JPEG", "MPO"):
            raise UploadRejected("unsupported_format", f"Unsupported image format {image.format}.")
        width, height = image.size
        check_dimensions(width, height)
        if getattr(image, "n_frames", 1) > 1 or getattr(image, "is_animated", False):
            raise UploadRejected(
                "multi_frame", "Animated or multi-frame images are not supported; upload one frame."
            )
        if fmt == ImageFormat.JPEG:
            # Decode at 1/2..1/8 scale (DCT scaling): every byte of the scan is still decoded, so
            # a truncated or damaged file still fails, but the pixels take a fraction of the memory.
            image.draft(None, (THUMBNAIL_SIDE_PX * 2, THUMBNAIL_SIDE_PX * 2))
        try:
            image.load()
        except (*_DECODE_ERRORS, MemoryError) as exc:
            raise UploadRejected(
                "corrupt", f"The {name} is truncated or damaged and cannot be decoded."
            ) from exc
    if fmt == ImageFormat.JPEG and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise UploadRejected("corrupt", "The JPEG is truncated (its end marker is missing).")
    bit_depth = _png_bit_depth(data) if fmt == ImageFormat.PNG else 8
    strip = png_strip_metadata if fmt == ImageFormat.PNG else jpeg_strip_metadata
    try:
        stored = strip(data)
    except MetadataStripError as exc:
        raise UploadRejected("corrupt", f"The {name}'s structure is damaged ({exc}).") from exc
    return CheckedImage(
        source_format=fmt,
        content_type="image/png" if fmt == ImageFormat.PNG else "image/jpeg",
        # Stored without embedded text metadata (EXIF, XMP, comments), which may name the patient.
        image_bytes=stored,
        image_extension="png" if fmt == ImageFormat.PNG else "jpg",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=width,
        height=height,
        bit_depth=bit_depth,
        thumbnail_bytes=thumbnail_render(image),
    )


def _png_bit_depth(data: bytes) -> int:
    # IHDR is always the first chunk: 8 magic + 4 length + 4 type + 4 width + 4 height, then depth.
    return 16 if data[24] == 16 else 8


def thumbnail_render(image: Image.Image) -> bytes:
    """A small 8-bit JPEG preview of any accepted image (16-bit is stretched to its range).

    The image is reduced first, in its own mode, so no full-size conversion is ever made."""
    if image.mode.startswith("I") or image.mode == "F":
        # Pillow's thumbnail() cannot reduce 16/32-bit images; resize() can.
        scale = min(1.0, THUMBNAIL_SIDE_PX / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.resize(size, Image.Resampling.BILINEAR)
    else:
        small = image
        small.thumbnail((THUMBNAIL_SIDE_PX, THUMBNAIL_SIDE_PX))
    display = _to_8bit(small)
    buffer = io.BytesIO()
    display.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def thumbnail_from_array(pixels: np.ndarray) -> bytes:
    """The preview of a rendered film (uint8/uint16, grey or RGB), from a strided view of it."""
    step = max(1, max(pixels.shape[:2]) // (THUMBNAIL_SIDE_PX * 2))
    small = np.ascontiguousarray(pixels[::step, ::step])
    if small.dtype == np.uint16:
        small = (small >> 8).astype(np.uint8)
    mode = "RGB" if small.ndim == 3 else "L"
    return thumbnail_render(Image.fromarray(small, mode=mode))


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("L", "RGB"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return Image.fromarray(_stretch(np.asarray(image), np.uint8), mode="L")
    if image.mode in ("LA", "1"):
        return image.convert("L")
    return image.convert("RGB")


def _stretch(pixels: np.ndarray, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """Map the array's own range linearly onto the full range of `dtype`. Only for small arrays
    (previews, lookup tables): it works in float64."""
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    top = float(np.iinfo(dtype).max)
    if high <= low:
        return np.zeros(values.shape, dtype=dtype)
    return np.rint((values - low) * (top / (high - low))).astype(dtype)


