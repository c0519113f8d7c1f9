"""Serving stored radiograph files. Callers decide who may see the radiograph (selectors);
this module only streams the bytes with headers that keep them out of shared caches."""
from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from PIL import Image

from cases.imaging import thumbnail_render
from cases.models import Radiograph
from cases.services import thumbnail_name_for

logger = logging.getLogger(__name__)


def radiograph_thumbnail_ensure(*, radiograph: Radiograph) -> str:
    """The storage name of the radiograph's thumbnail, rendered now if it was never made (rows
    created outside `radiograph_upload`, e.g. imports or fixtures)."""
    name = thumbnail_name_for(radiograph.image.name)
    if default_storage.exists(name):
        return name
    with radiograph.image.open("rb") as stored:
        data = stored.read()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        thumbnail = thumbnail_render(image)
    # The name is derived from the random image name, so a concurrent render writes the same
    # content; storage may append a suffix to the loser, which is harmless.
    return default_storage.save(name, ContentFile(thumbnail))


def radiograph_file_response(*, radiograph: Radiograph, kind: str) -> FileResponse:
    if kind == "image":
        name, content_type, ext = radiograph.image.name, radiograph.content_type, None
    elif kind == "thumbnail":
        name, content_type, ext = radiograph_thumbnail_ensure(radiograph=radiograph), "image/jpeg", "jpg"
    elif kind == "dicom" and radiograph.dicom_deidentified:
        name, content_type, ext = radiograph.dicom_deidentified.name, "application/dicom", "dcm"
    else:
        raise Http404("No such file.")
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        logger.error("radiograph %s: stored %s file is missing", radiograph.pk, kind)
        raise Http404("The file is missing.") from exc
    ext = ext or name.rsplit(".", 1)[-1]
    response = FileResponse(
        handle, content_type=content_type, filename=f"radiograph-{radiograph.pk}-{kind}.{ext}"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- stored pixel values, for the film viewer's window/level ------------------------------------


@dataclass(frozen=True)
class StoredPixels:
    """The stored film's pixel values, row-major: uint16 for a 16-bit film, else uint8; one
    channel for a grayscale film, three (RGB) for a colour one."""

    values: np.ndarray  # (height, width) or (height, width, 3)
    bit_depth: int

    @property
    def channels(self) -> int:
        return 1 if self.values.ndim == 2 else 3


def radiograph_pixels_read(*, radiograph: Radiograph) -> StoredPixels:
    """Decode the stored image to its pixel values. Browsers decode PNGs to 8 bits, so a viewer
    that windows a 16-bit film needs the values themselves."""
    try:
        with radiograph.image.open("rb") as stored:
            data = stored.read()
    except FileNotFoundError as exc:
        logger.error("radiograph %s: stored image file is missing", radiograph.pk)
        raise Http404("The file is missing.") from exc
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode.startswith("I") or image.mode == "F":
            # 16-bit PNGs open as I;16 or I (int32); their values fit in 16 bits.
            values = np.clip(np.asarray(image), 0, 65535).astype("<u2")
            return StoredPixels(values=values, bit_depth=16)
        if image.mode in ("L", "LA", "1"):
            return StoredPixels(values=np.asarray(image.convert("L")), bit_depth=8)
        rgb = np.asarray(image.convert("RGB"))
    # Many grayscale films are saved as RGB with three equal channels: send one.
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return StoredPixels(values=np.ascontiguousarray(rgb[..., 0]), bit_depth=8)
    return StoredPixels(values=rgb, bit_depth=8)


def radiograph_pixels_response(*, radiograph: Radiograph, accept_encoding: str = "") -> HttpResponse:
    """The stored pixel values as raw little-endian samples (`application/octet-stream`), with
    `X-Image-Width`, `X-Image-Height`, `X-Bit-Depth` (8 or 16) and `X-Channels` (1 or 3)
    headers. Gzipped (fast level) when the client accepts it: a 16-bit film is large."""
    pixels = radiograph_pixels_read(radiograph=radiograph)
    body = pixels.values.tobytes()
    response = HttpResponse(content_type="application/octet-stream")
    if "gzip" in accept_encoding:
        body = gzip.compress(body, compresslevel=1)
        response["Content-Encoding"] = "gzip"
    response.content = body
    height, width = pixels.values.shape[:2]
    response["X-Image-Width"] = str(width)
    response["X-Image-Height"] = str(height)
    response["X-Bit-Depth"] = str(pixels.bit_depth)
    response["X-Channels"] = str(pixels.channels)
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
