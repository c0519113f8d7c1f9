"""The raw pixel endpoint the film viewer windows: the stored values themselves (16-bit where the
film is), with their shape in headers. Who may fetch it is tested with every persona in
test_access.py."""
from __future__ import annotations

import gzip
import io

import numpy as np
from django.urls import reverse
from PIL import Image

from cases.services import radiograph_upload
from tests.factories import jpeg_bytes, png_bytes, spine_pixels, upload


def _pixels(api_as, user, radiograph, **headers):
    response = api_as(user).get(reverse("cases_api:radiograph_pixels", args=[radiograph.pk]), **headers)
    assert response.status_code == 200
    return response


def _values(response) -> np.ndarray:
    dtype = "<u2" if response["X-Bit-Depth"] == "16" else "u1"
    shape = [int(response["X-Image-Height"]), int(response["X-Image-Width"])]
    if response["X-Channels"] == "3":
        shape.append(3)
    body = response.content
    if response.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def test_sixteen_bit_film_is_served_with_its_sixteen_bit_values(api_as, clinician, case):
    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(png_bytes(width=90, height=130, seed=5, bit_depth=16))]
    )
    response = _pixels(api_as, clinician, radiograph)
    assert response["Content-Type"] == "application/octet-stream"
    assert (response["X-Image-Width"], response["X-Image-Height"]) == ("90", "130")
    assert (response["X-Bit-Depth"], response["X-Channels"]) == ("16", "1")
    values = _values(response)
    assert np.array_equal(values, spine_pixels(width=90, height=130, seed=5, maximum=65535))
    assert values.max() > 255  # really 16-bit, not stretched to 8
    assert response["Cache-Control"] == "private, no-store"


def test_eight_bit_grayscale_jpeg_is_served_as_one_channel(api_as, clinician, case):
    data = jpeg_bytes(width=80, height=120, seed=2)
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data, "film.jpg")])
    response = _pixels(api_as, clinician, radiograph)
    assert (response["X-Bit-Depth"], response["X-Channels"]) == ("8", "1")
    assert np.array_equal(_values(response), np.asarray(Image.open(io.BytesIO(data)).convert("L")))


def test_colour_film_keeps_its_three_channels(api_as, clinician, case):
    pixels = np.stack([spine_pixels(width=70, height=100, seed=s) for s in (1, 2, 3)], axis=-1)
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(png_bytes(pixels=pixels))])
    response = _pixels(api_as, clinician, radiograph)
    assert response["X-Channels"] == "3"
    assert np.array_equal(_values(response), pixels)


def test_pixels_are_gzipped_when_the_client_accepts_it(api_as, clinician, case):
    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(png_bytes(width=90, height=130, seed=7, bit_depth=16))]
    )
    plain = _pixels(api_as, clinician, radiograph)
    packed = _pixels(api_as, clinician, radiograph, HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert packed["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain
    assert np.array_equal(_values(packed), _values(plain))
