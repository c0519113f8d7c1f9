"""JPEG and PNG uploads are stored without embedded text metadata, pixels untouched."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from cases.imaging import image_check
from cases.metadata import MetadataStripError, jpeg_strip_metadata, png_strip_metadata
from tests.factories import spine_pixels

PATIENT = b"DOE^JANE 0012345"


def _jpeg_with_exif_and_comment() -> bytes:
    image = Image.fromarray(spine_pixels(width=96, height=128, seed=3))
    exif = Image.Exif()
    exif[0x010E] = PATIENT.decode()  # ImageDescription
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, exif=exif, comment=PATIENT)
    return buffer.getvalue()


def _png_with_text() -> bytes:
    image = Image.fromarray(spine_pixels(width=96, height=128, seed=4))
    info = PngImagePlugin.PngInfo()
    info.add_text("PatientName", PATIENT.decode())
    info.add_itxt("Comment", PATIENT.decode())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize(
    "make", [_jpeg_with_exif_and_comment, _png_with_text], ids=["jpeg-exif-and-comment", "png-text-chunks"]
)
def test_upload_is_stored_without_embedded_text_and_same_pixels(make) -> None:
    data = make()
    assert PATIENT in data
    checked = image_check(data=data)
    assert PATIENT not in checked.image_bytes
    assert np.array_equal(_pixels(checked.image_bytes), _pixels(data))
    # Duplicates are recognised by what was uploaded, not by what was stored.
    assert checked.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("strip", "data"),
    [
        (jpeg_strip_metadata, b"\xff\xd8\xff\xe1\x00\x10abc"),
        (png_strip_metadata, b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
    ],
)
def test_broken_structure_is_refused_not_passed_through(strip, data: bytes) -> None:
    with pytest.raises(MetadataStripError):
        strip(data)
