"""Upload checks: each bad input is rejected with its own message and leaves nothing behind;
good JPEG, PNG (8/16-bit) and DICOM are stored as the model will read them."""
from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from cases import services
from cases.imaging import UploadRejected, image_check
from cases.models import ImageFormat, Radiograph
from cases.services import UploadFailed, radiograph_upload
from tests.factories import dicom_bytes, jpeg_bytes, png_bytes, upload
from tests.hostile_files import png_claiming

FRAIWAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "fraiwan"


def stored_files(media_dir: Path) -> list[Path]:
    return [p for p in media_dir.rglob("*") if p.is_file()]


def animated_png() -> bytes:
    frames = [Image.fromarray(np.full((96, 96), v, np.uint8)) for v in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def rejection_of(data: bytes) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        image_check(data=data)
    return caught.value


BAD_INPUTS = {
    "zero bytes": (lambda: b"", "empty"),
    "text named .jpg": (lambda: b"Patient notes, definitely not an image\n" * 5, "unsupported_format"),
    "pdf named .jpg": (lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "unsupported_format"),
    "truncated jpeg": (lambda: jpeg_bytes(width=256, height=256)[:1500], "corrupt"),
    "jpeg missing its end": (lambda: jpeg_bytes()[:-2], "corrupt"),
    "decompression bomb png": (lambda: png_claiming(30000, 30000), "too_many_pixels"),
    "too small png": (lambda: png_bytes(width=63, height=200), "too_small"),
    "animated png": (animated_png, "multi_frame"),
    "multi-frame dicom": (lambda: dicom_bytes(frames=2), "multi_frame"),
    "dicom without pixel data": (lambda: dicom_bytes(with_pixels=False), "no_pixel_data"),
    "corrupt png": (lambda: png_bytes()[:60], "corrupt"),
}


@pytest.mark.parametrize("label", BAD_INPUTS)
def test_bad_input_is_rejected_with_its_own_message(label):
    make, code = BAD_INPUTS[label]
    rejected = rejection_of(make())
    assert rejected.code == code
    assert len(rejected.message) > 10


@pytest.mark.parametrize("label", BAD_INPUTS)
def test_bad_upload_leaves_no_row_and_no_file(label, clinician, case, media_dir):
    make, code = BAD_INPUTS[label]
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=[upload(make(), "scan.jpg")])
    assert [r.code for r in caught.value.rejections] == [code]
    assert caught.value.rejections[0].name == "scan.jpg"
    assert not Radiograph.objects.exists()
    assert stored_files(media_dir) == []


def test_decompression_bomb_is_refused_without_allocating_its_pixels():
    data = png_claiming(30000, 30000)  # 900 megapixels in a few KB
    assert len(data) < 10_000
    tracemalloc.start()
    try:
        with pytest.raises(UploadRejected):
            image_check(data=data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # the image would be 900 MB


def test_file_over_the_size_limit_is_rejected_before_decoding(settings, clinician, case, media_dir):
    settings.UPLOAD_MAX_BYTES = 2_000
    data = png_bytes(width=256, height=256)
    assert len(data) > 2_000
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=[upload(data)])
    assert caught.value.rejections[0].code == "too_large"
    assert "limit" in caught.value.rejections[0].message
    assert stored_files(media_dir) == []


def test_one_bad_file_in_a_batch_stores_nothing_and_names_each_bad_file(clinician, case, media_dir):
    files = [
        upload(png_bytes(seed=1), "good.png"),
        upload(b"", "empty.png"),
        upload(b"%PDF-1.7 nope", "report.jpg"),
    ]
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=files)
    assert [(r.name, r.code) for r in caught.value.rejections] == [
        ("empty.png", "empty"),
        ("report.jpg", "unsupported_format"),
    ]
    assert not Radiograph.objects.exists()
    assert stored_files(media_dir) == []


def test_failure_half_way_through_storing_deletes_files_already_written(
    clinician, case, media_dir, monkeypatch
):
    real_store = services._radiograph_store
    calls = {"n": 0}

    def store_then_fail_on_second(**kwargs):
        radiograph = real_store(**kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return radiograph

    monkeypatch.setattr(services, "_radiograph_store", store_then_fail_on_second)
    files = [upload(png_bytes(seed=s), f"{s}.png") for s in range(3)]
    with pytest.raises(OSError, match="disk full"):
        radiograph_upload(user=clinician, case=case, files=files)
    assert calls["n"] == 2
    assert not Radiograph.objects.exists()
    assert stored_files(media_dir) == []


def test_same_bytes_twice_in_one_upload_is_reported_not_stored_twice(clinician, case):
    data = png_bytes(seed=7)
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=[upload(data, "a.png"), upload(data, "b.png")])
    (rejection,) = caught.value.rejections
    assert (rejection.name, rejection.code) == ("b.png", "duplicate")
    assert "a.png" in rejection.message
    assert not Radiograph.objects.exists()


def test_file_already_in_the_case_is_reported_as_duplicate(clinician, case):
    data = png_bytes(seed=8)
    radiograph_upload(user=clinician, case=case, files=[upload(data, "first.png")])
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=[upload(data, "again.png")])
    assert caught.value.rejections[0].code == "duplicate"
    assert Radiograph.objects.filter(case=case).count() == 1


def test_same_file_may_go_to_two_different_cases(clinician, case):
    from tests.factories import CaseFactory

    data = png_bytes(seed=9)
    other = CaseFactory(owner=clinician)
    radiograph_upload(user=clinician, case=case, files=[upload(data)])
    radiograph_upload(user=clinician, case=other, files=[upload(data)])
    assert Radiograph.objects.count() == 2


# --- accepted formats ---------------------------------------------------------------------------


def test_jpeg_is_stored_with_a_random_name_and_a_thumbnail(clinician, case, media_dir):
    data = jpeg_bytes(width=200, height=300)
    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(data, "Doe_Jane_MRN123.jpg", "image/jpeg")]
    )
    assert radiograph.source_format == ImageFormat.JPEG
    assert (radiograph.width, radiograph.height, radiograph.bit_depth) == (200, 300, 8)
    assert radiograph.content_type == "image/jpeg"
    assert "Doe" not in radiograph.image.name and "MRN" not in radiograph.image.name
    with radiograph.image.open("rb") as stored:
        assert stored.read() == data
    names = {p.relative_to(media_dir).parts[0] for p in stored_files(media_dir)}
    assert names == {"radiographs", "thumbnails"}


def test_png_named_jpg_is_accepted_as_png(clinician, case):
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(png_bytes(), "x.jpg")])
    assert radiograph.source_format == ImageFormat.PNG


def test_16_bit_png_keeps_its_depth(clinician, case):
    data = png_bytes(bit_depth=16)
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data)])
    assert radiograph.bit_depth == 16
    with radiograph.image.open("rb") as stored, Image.open(stored) as image:
        assert np.asarray(image).max() > 255


def test_several_files_upload_together(clinician, case, django_capture_on_commit_callbacks):
    files = [upload(png_bytes(seed=s)) for s in range(3)]
    with django_capture_on_commit_callbacks() as callbacks:
        radiographs = radiograph_upload(user=clinician, case=case, files=files)
    assert len(radiographs) == 3
    assert len(callbacks) == 1


def test_upload_hands_new_ids_to_inference_after_commit(
    clinician, case, monkeypatch, django_capture_on_commit_callbacks
):
    import inference.services

    seen: list[list[int]] = []
    monkeypatch.setattr(
        inference.services,
        "predictions_enqueue_for_radiographs",
        lambda *, radiograph_ids, **kw: seen.append(list(radiograph_ids)),
        raising=False,
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        radiographs = radiograph_upload(
            user=clinician, case=case, files=[upload(png_bytes(seed=s)) for s in range(2)]
        )
    assert seen == []  # nothing is queued before the rows are committed
    for callback in callbacks:
        callback()
    assert seen == [[r.pk for r in radiographs]]


# --- DICOM --------------------------------------------------------------------------------------


def rendered_pixels(radiograph: Radiograph) -> np.ndarray:
    with radiograph.image.open("rb") as stored, Image.open(stored) as image:
        return np.asarray(image).astype(np.int64)


def test_dicom_is_rendered_to_png_and_a_deidentified_copy_is_kept(clinician, case):
    data = dicom_bytes()
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data, "x.dcm")])
    assert radiograph.source_format == ImageFormat.DICOM
    assert radiograph.content_type == "image/png"
    assert (radiograph.width, radiograph.height, radiograph.bit_depth) == (96, 128, 16)
    with radiograph.dicom_deidentified.open("rb") as stored:
        copy = stored.read()
    for secret in (b"Doe^Jane", b"MRN-SECRET-4242", b"19700101", b"Springfield", b"St Elsewhere", b"Who^Doctor", b"ACC-998877"):
        assert secret not in copy
    dataset = pydicom.dcmread(io.BytesIO(copy))
    # The profile empties or puts a dummy in type 1/2 attributes, and removes the rest.
    assert dataset.get("PatientName") in ("", None)
    assert dataset.get("PatientID") in ("", "ANONYMIZED")
    assert dataset.get("PatientBirthDate") in ("", "00010101")
    assert "PatientAddress" not in dataset and "OtherPatientIDs" not in dataset
    # The file does not say whether text is burned into its pixels: identity is not "removed".
    assert dataset.PatientIdentityRemoved == "NO"
    assert radiograph.burned_in_annotation == "unknown" and radiograph.burned_in_flagged
    assert not any(element.tag.is_private for element in dataset)
    original = pydicom.dcmread(io.BytesIO(data))
    assert dataset.SOPInstanceUID != original.SOPInstanceUID
    assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
    assert dataset.pixel_array.shape == (128, 96)


def _halves(low: int, high: int) -> np.ndarray:
    pixels = np.full((96, 96), low, np.uint16)
    pixels[:, 48:] = high
    return pixels


def test_monochrome1_dicom_is_inverted_so_bone_is_bright(clinician, case):
    data = dicom_bytes(pixels=_halves(100, 3000), photometric="MONOCHROME1")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data)])
    pixels = rendered_pixels(radiograph)
    assert pixels[:, :48].mean() > pixels[:, 48:].mean()


def test_monochrome2_dicom_is_not_inverted(clinician, case):
    data = dicom_bytes(pixels=_halves(100, 3000), photometric="MONOCHROME2")
    (radiograph,) = radiograph_upload(user=clinician, case=case, files=[upload(data)])
    pixels = rendered_pixels(radiograph)
    assert pixels[:, :48].mean() < pixels[:, 48:].mean()


def test_dicom_window_is_applied_after_the_modality_rescale():
    # Raw 0..4095 ramp; rescale maps raw 1024 to 0; the window (centre 0, width 200) is in
    # rescaled units, so only raw ~924..1124 keeps grey levels and the rest saturates.
    ramp = np.tile(np.linspace(0, 4095, 256).astype(np.uint16), (96, 1))
    checked = image_check(data=dicom_bytes(pixels=ramp, window=(0, 200), rescale=(1, -1024)))
    with Image.open(io.BytesIO(checked.image_bytes)) as image:
        row = np.asarray(image).astype(np.int64)[0]
    raw = np.linspace(0, 4095, 256)
    assert (row[raw < 900] == row.min()).all()
    assert (row[raw > 1150] == row.max()).all()
    middle = row[(raw > 960) & (raw < 1090)]
    assert ((middle > row.min()) & (middle < row.max())).all()


# --- real data ----------------------------------------------------------------------------------


def _first_real_image() -> Path | None:
    if not FRAIWAN.is_dir():
        return None
    return next(iter(sorted(FRAIWAN.glob("*/*.jpg"))), None)


def test_real_radiograph_from_the_fraiwan_set_is_accepted(clinician, case):
    path = _first_real_image()
    if path is None:
        pytest.skip(f"the Fraiwan radiographs are not at {FRAIWAN} on this machine")
    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(path.read_bytes(), "real.jpg")]
    )
    with Image.open(path) as original:
        assert (radiograph.width, radiograph.height) == original.size


def test_too_many_files_at_once_are_refused(settings, clinician, case):
    settings.UPLOAD_MAX_FILES = 2
    with pytest.raises(UploadFailed) as caught:
        radiograph_upload(user=clinician, case=case, files=[upload(png_bytes(seed=s)) for s in range(3)])
    assert caught.value.rejections[0].code == "too_many_files"
    assert not Radiograph.objects.exists()


def test_deleting_a_case_deletes_its_stored_files_after_commit(
    clinician, case, media_dir, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from inference.models import Prediction
    from tests.inference.support import make_active_model_version

    (radiograph,) = radiograph_upload(
        user=clinician, case=case, files=[upload(jpeg_bytes(width=64, height=96), "a.jpg", "image/jpeg")]
    )
    prediction = Prediction.objects.create(radiograph=radiograph, model_version=make_active_model_version())
    prediction.gradcam.save("gradcam.png", ContentFile(png_bytes()), save=True)
    kept = {p for p in stored_files(media_dir) if p.parts[-2] == "checkpoints"}
    assert {p.relative_to(media_dir).parts[0] for p in stored_files(media_dir)} >= {"radiographs", "thumbnails", "gradcam"}

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        case.delete()
    assert len(stored_files(media_dir)) > len(kept)  # nothing goes before the commit
    for callback in callbacks:
        callback()
    assert set(stored_files(media_dir)) == kept  # image, thumbnail and overlay are gone
