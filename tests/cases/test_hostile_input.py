"""Hostile uploads and request bodies: every decode is bounded, every refusal is clear, and
nothing is left behind (no row, no stored file, no temporary file)."""
from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pydicom
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from PIL import Image

from cases.imaging import UploadRejected, image_check
from cases.models import Radiograph
from cases.services import radiograph_upload
from tests.factories import dicom_bytes, jpeg_bytes, png_bytes, spine_pixels, upload
from tests.hostile_files import (
    DEFLATED,
    dicom_dataset_bytes,
    dicom_deflate_bomb,
    dicom_file,
    dicom_header,
    dicom_uncompressed,
    png_claiming,
)

T = TypeVar("T")

def rejection_of(data: bytes) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        image_check(data=data)
    return caught.value


def peak_memory(make: Callable[[], T]) -> tuple[T, int]:
    """What `make()` returns, and the peak of the memory Python allocated while it ran."""
    tracemalloc.start()
    try:
        made = make()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return made, peak


def native_dicom_claiming(rows: int, columns: int, *, pixel_bytes: int) -> bytes:
    return dicom_uncompressed(dicom_header(rows, columns), bytes(pixel_bytes))


def deflated_dicom(pixels: np.ndarray) -> bytes:
    ds = dicom_header(*pixels.shape, bits_stored=12)
    ds.PixelData = pixels.astype("<u2").tobytes()
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return dicom_file(ds, DEFLATED, packer.compress(dicom_dataset_bytes(ds)) + packer.flush())


# --- bounded decoding --------------------------------------------------------------------------


def test_deflate_bomb_dicom_is_refused_while_inflating(settings):
    settings.UPLOAD_MAX_BYTES = 2 * 1024 * 1024
    bomb = dicom_deflate_bomb(pixel_bytes=8 * 1024 * 1024)
    assert len(bomb) < 64 * 1024
    rejected, peak = peak_memory(lambda: rejection_of(bomb))
    assert rejected.code == "too_large" and "inflates to more than" in rejected.message
    assert peak < 6 * 1024 * 1024


def test_small_deflated_dicom_is_inflated_and_accepted(clinician, case):
    pixels = spine_pixels(width=96, height=128, maximum=4095)
    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(deflated_dicom(pixels), "deflated.dcm")]
    )
    assert (radiograph.width, radiograph.height, radiograph.bit_depth) == (96, 128, 16)
    with radiograph.dicom_deidentified.open("rb") as handle:
        copy = pydicom.dcmread(handle)
    assert np.array_equal(copy.pixel_array, pixels)


def test_dicom_header_claiming_more_pixels_than_the_engine_takes_is_refused_before_decoding():
    rejected, peak = peak_memory(lambda: rejection_of(native_dicom_claiming(20000, 20000, pixel_bytes=64)))
    assert rejected.code == "too_many_pixels" and "20000x20000" in rejected.message
    assert peak < 2 * 1024 * 1024


def test_dicom_pixel_data_shorter_than_its_header_is_refused_before_decoding():
    rejected = rejection_of(native_dicom_claiming(4000, 4000, pixel_bytes=1024))
    assert rejected.code == "corrupt" and "shorter than its header" in rejected.message


@pytest.mark.parametrize(
    ("bits", "code"), [(32, "unsupported_format"), (12, "unsupported_format")]
)
def test_dicom_with_an_unsupported_sample_size_is_refused_by_its_header(bits, code):
    ds = dicom_header(128, 96)
    ds.BitsAllocated = bits
    data = dicom_uncompressed(ds, b"\x00" * (128 * 96 * 4))
    assert rejection_of(data).code == code


def test_16_bit_png_is_checked_without_a_full_size_numeric_copy():
    side = 4000  # 16 megapixels: the old path made ~5 float64 copies (128 MB each)
    pixels = (np.arange(side * side, dtype=np.uint32) % 65521).astype(np.uint16).reshape(side, side)
    data = png_bytes(pixels=pixels, compress_level=1)
    del pixels
    checked, peak = peak_memory(lambda: image_check(data=data))
    assert checked.bit_depth == 16 and (checked.width, checked.height) == (side, side)
    assert peak < 2 * len(data) + 8 * 1024 * 1024


def test_native_16_bit_dicom_is_rendered_without_float_copies_of_the_film():
    rows, columns = 3000, 2000
    pixels = (np.arange(rows * columns, dtype=np.uint32) % 4096).astype(np.uint16).reshape(rows, columns)
    data = dicom_bytes(rows=rows, columns=columns, pixels=pixels, rescale=(2.0, -100.0), window=(3000, 6000))
    film = rows * columns * 2
    del pixels
    checked, peak = peak_memory(lambda: image_check(data=data))
    assert checked.bit_depth == 16
    # The stored DICOM copy, the decoded pixels and the rendered film are each one film in size;
    # a float64 copy alone would be four.
    assert peak < 6 * film


def test_upload_pixel_limit_is_the_engines_limit():
    from inference.engine import preprocessing
    from inference.engine.limits import MAX_PIXELS

    assert django_settings.UPLOAD_MAX_PIXELS == MAX_PIXELS == preprocessing.MAX_PIXELS


def test_image_over_the_engines_pixel_limit_is_refused_from_its_header():
    from inference.engine.limits import MAX_PIXELS

    width = 8000
    height = MAX_PIXELS // width + 1
    rejected = rejection_of(png_claiming(width, height, bit_depth=16))
    assert rejected.code == "too_many_pixels"


def test_settings_refuse_an_upload_pixel_limit_above_the_engines():
    code = "import django; django.setup()"
    env = {
        "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.test",
        "UPLOAD_MAX_PIXELS": "100000000",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        cwd=Path(django_settings.BASE_DIR),
    )
    assert result.returncode != 0
    assert "UPLOAD_MAX_PIXELS=100000000 must be between 1 and the engine's limit" in result.stderr


# --- request bodies ----------------------------------------------------------------------------


@pytest.fixture
def upload_temp_dir(settings, tmp_path):
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def test_api_upload_stops_at_the_first_file_over_the_limit_with_413(
    client, settings, clinician, case, media_dir, upload_temp_dir
):
    settings.UPLOAD_MAX_BYTES = 200 * 1024
    client.force_login(clinician)
    url = f"/api/v1/cases/{case.pk}/radiographs/"
    big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * (300 * 1024))
    big.name = "big-film.png"
    good = io.BytesIO(png_bytes())
    good.name = "good.png"
    response = client.post(url, {"file": [good, big]})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["files"][0]["name"] == "big-film.png"
    assert "MB limit" in error["files"][0]["message"]
    assert not Radiograph.objects.exists()
    assert not [p for p in media_dir.rglob("*") if p.is_file()]
    assert not list(upload_temp_dir.iterdir())


def test_page_upload_over_the_limit_answers_413_and_stores_nothing(
    client, settings, clinician, case, media_dir, upload_temp_dir
):
    settings.UPLOAD_MAX_BYTES = 200 * 1024
    client.force_login(clinician)
    big = io.BytesIO(b"\xff\xd8\xff" + b"\x00" * (300 * 1024))
    big.name = "big.jpg"
    response = client.post(reverse("cases:radiograph_upload", kwargs={"case_id": case.pk}), {"file": big})
    assert response.status_code == 413
    assert "big.jpg" in response.content.decode()
    assert not Radiograph.objects.exists()
    assert not [p for p in media_dir.rglob("*") if p.is_file()]
    assert not list(upload_temp_dir.iterdir())


def test_file_under_the_limit_still_uploads_through_the_api(client, settings, clinician, case, upload_temp_dir):
    client.force_login(clinician)
    good = io.BytesIO(png_bytes())
    good.name = "good.png"
    response = client.post(f"/api/v1/cases/{case.pk}/radiographs/", {"file": good})
    assert response.status_code == 201, response.content
    assert Radiograph.objects.count() == 1
    assert not list(upload_temp_dir.iterdir())


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/login/"])
def test_sign_in_endpoints_refuse_bodies_over_1_mb(client, path):
    body = "username=alice&password=" + "x" * (1024 * 1024 + 10)
    response = client.post(path, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "may not be larger than 1024 KB" in response.content.decode()


def test_sign_in_endpoint_still_answers_a_normal_body(client, db):
    response = client.post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"})
    assert response.status_code in (400, 401)


# --- rendering reads the stored bits only --------------------------------------------------------


def _native(pixels_raw: np.ndarray, *, stored: int, signed: bool) -> bytes:
    ds = dicom_header(*pixels_raw.shape, bits_stored=stored)
    ds.PixelRepresentation = int(signed)
    return dicom_uncompressed(ds, pixels_raw.astype("<u2").tobytes())


def _rendered(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image_check(data=data).image_bytes)))


def test_bits_above_bits_stored_do_not_reach_the_rendered_film():
    # Old equipment kept overlays (burned-in text) in the unused high bits of each sample.
    clean = spine_pixels(width=96, height=128, maximum=4095).astype(np.uint16)
    overlaid = clean.copy()
    overlaid[40:60, 10:80] |= 0x8000
    assert np.array_equal(
        _rendered(_native(overlaid, stored=12, signed=False)),
        _rendered(_native(clean, stored=12, signed=False)),
    )


def test_signed_pixels_are_sign_extended_from_bits_stored():
    values = np.tile(np.linspace(-2000, 2000, 96).round().astype(np.int16), (128, 1))
    raw = values.astype(np.int32) & 0x0FFF  # 12-bit two's complement, high bits clear
    rendered = _rendered(_native(raw.astype(np.uint16), stored=12, signed=True))
    row = rendered[0].astype(np.int64)
    assert row[0] == 0 and row[-1] == 65535
    assert np.all(np.diff(row) >= 0)  # -2000 darkest ... +2000 brightest, in order


# --- mutated files -------------------------------------------------------------------------------


def _mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        if rng.random() < 0.3:
            mutated = mutated[: int(rng.integers(1, len(mutated)))]
        for _ in range(int(rng.integers(1, 8))):
            position = int(rng.integers(0, len(mutated)))
            mutated[position] = int(rng.integers(0, 256))
        out.append(bytes(mutated))
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda: png_bytes(width=96, height=128),
        lambda: jpeg_bytes(),
        lambda: dicom_bytes(),
        lambda: deflated_dicom(spine_pixels(width=96, height=128, maximum=4095)),
    ],
    ids=["png", "jpeg", "dicom", "deflated-dicom"],
)
def test_mutated_files_are_accepted_or_refused_with_a_message_never_an_unexpected_error(make, caplog):
    for index, data in enumerate(_mutations(make(), 60, seed=7)):
        try:
            image_check(data=data)
        except UploadRejected as exc:
            assert exc.message, index
    unexpected = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert not unexpected, unexpected[0].exc_text
