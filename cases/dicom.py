"""DICOM uploads: bounded reading, rendering as a clinician sees it, and de-identification.

Reading is done in an order that never lets the file decide how much memory we spend:

1. The file meta is read on its own. A deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99)
   is inflated with a cap: it may not inflate to more than an upload may weigh.
2. The dataset is read without its pixel data; the frame count, dimensions, samples and bits of
   its header are checked against the engine's limits before any pixel is decoded.
3. The pixels are decoded at their own integer type, and the modality and VOI lookups, the
   MONOCHROME1 inversion and the stretch to the output range are folded into one lookup table
   over the stored values (at most 65,536 entries): the whole film is never held as floats.
"""
from __future__ import annotations

import hashlib
import io
import uuid
import zlib
from importlib.metadata import version

import numpy as np
from django.conf import settings
from django.utils.crypto import salted_hmac
from PIL import Image

from cases.imaging import (
    CheckedImage,
    UploadRejected,
    check_dimensions,
    max_upload_bytes,
    thumbnail_from_array,
)
from cases.models import ImageFormat

DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
NATIVE_SYNTAXES = {"1.2.840.10008.1.2", EXPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.2"}
_INFLATE_CHUNK = 1024 * 1024


def dicom_check(data: bytes) -> CheckedImage:
    """A checked DICOM upload: rendered to PNG, with its de-identified copy; or UploadRejected."""
    try:
        return _dicom_check(data)
    except MemoryError as exc:
        raise UploadRejected("too_large", "The DICOM image is too large to decode.") from exc


def _dicom_check(data: bytes) -> CheckedImage:
    meta, offset = _file_meta_read(data)
    syntax = str(meta.get("TransferSyntaxUID", "") or "")
    readable = _inflate(data, meta, offset) if syntax == DEFLATED else data
    header = _dataset_read(readable, stop_before_pixels=True)
    shape = _header_check(header)
    dataset = _dataset_read(readable, stop_before_pixels=False)
    del readable
    if "PixelData" not in dataset:
        if "FloatPixelData" in dataset or "DoubleFloatPixelData" in dataset:
            raise UploadRejected(
                "unsupported_format", "DICOM with floating-point pixel data is not supported."
            )
        raise UploadRejected(
            "no_pixel_data", "This DICOM file has no image (no pixel data); upload the image itself."
        )
    if syntax in NATIVE_SYNTAXES:
        _native_length_check(dataset, shape)
    rendered, bit_depth = _dicom_render(dataset, shape, syntax)
    rows, columns = shape[0], shape[1]
    buffer = io.BytesIO()
    Image.fromarray(rendered).save(buffer, format="PNG")
    thumbnail = thumbnail_from_array(rendered)
    del rendered
    burned_in = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    return CheckedImage(
        source_format=ImageFormat.DICOM,
        content_type="image/png",
        image_bytes=buffer.getvalue(),
        image_extension="png",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=columns,
        height=rows,
        bit_depth=bit_depth,
        thumbnail_bytes=thumbnail,
        dicom_deidentified_bytes=_deidentified_or_refused(dataset),
        burned_in_annotation=burned_in if burned_in in ("YES", "NO") else "",
    )


def _deidentified_or_refused(dataset) -> bytes:
    try:
        return dicom_deidentify(dataset)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - we keep no DICOM we could not de-identify
        raise UploadRejected(
            "deidentification_failed",
            "This DICOM file could not be de-identified, so it was not stored; "
            "export it again as a plain DICOM image, or as PNG.",
        ) from exc


def _file_meta_read(data: bytes):
    """The file meta group and the offset of the dataset after it."""
    from pydicom.filereader import _read_file_meta_info, read_preamble

    stream = io.BytesIO(data)
    try:
        read_preamble(stream, False)
        # pydicom has no public reader of the meta from a buffer; 3.0.x keeps this one stable.
        meta = _read_file_meta_info(stream)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for garbage
        raise UploadRejected("corrupt", "The file starts like DICOM but its header cannot be read.") from exc
    return meta, stream.tell()


def _inflate(data: bytes, meta, offset: int) -> bytes:
    """The file rewritten as explicit VR little endian, inflating at most UPLOAD_MAX_BYTES."""
    from pydicom.filewriter import write_file_meta_info

    limit = max_upload_bytes()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0
    view = memoryview(data)[offset:]
    try:
        for start in range(0, len(view), _INFLATE_CHUNK):
            pending = bytes(view[start : start + _INFLATE_CHUNK])
            while pending:
                part = inflater.decompress(pending, limit + 1 - total)
                total += len(part)
                parts.append(part)
                if total > limit:
                    raise UploadRejected(
                        "too_large",
                        f"The deflated DICOM inflates to more than the {limit // (1024 * 1024)} MB "
                        "upload limit; it may be a decompression bomb.",
                    )
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if inflater.eof:
                break
    except zlib.error as exc:
        raise UploadRejected("corrupt", "The deflated DICOM data is damaged.") from exc
    meta.TransferSyntaxUID = EXPLICIT_VR_LITTLE_ENDIAN
    head = io.BytesIO()
    head.write(b"\x00" * 128 + b"DICM")
    try:
        write_file_meta_info(head, meta, enforce_standard=True)
    except (ValueError, AttributeError, TypeError) as exc:
        raise UploadRejected("corrupt", "The DICOM file meta information is incomplete.") from exc
    parts.insert(0, head.getvalue())
    return b"".join(parts)


def _dataset_read(data: bytes, *, stop_before_pixels: bool):
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for garbage
        raise UploadRejected("corrupt", "The file starts like DICOM but cannot be read.") from exc


def _header_int(header, keyword: str, default: int | None = None) -> int | None:
    value = header.get(keyword, default)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise UploadRejected("corrupt", f"The DICOM header's {keyword} is not a number.") from exc


def _header_check(header) -> tuple[int, int, int, int, int]:
    """(rows, columns, samples, bits allocated, bits stored), refused if the engine cannot take it."""
    rows, columns = _header_int(header, "Rows"), _header_int(header, "Columns")
    if rows is None or columns is None:
        raise UploadRejected(
            "no_pixel_data", "This DICOM file has no image (no pixel data); upload the image itself."
        )
    frames = _header_int(header, "NumberOfFrames", 1) or 1
    if frames > 1:
        raise UploadRejected(
            "multi_frame", f"Multi-frame DICOM ({frames} frames) is not supported; upload one image."
        )
    check_dimensions(columns, rows)
    samples = _header_int(header, "SamplesPerPixel", 1) or 1
    allocated = _header_int(header, "BitsAllocated", 16) or 16
    stored = _header_int(header, "BitsStored", allocated) or allocated
    if allocated not in (8, 16) or not 1 <= stored <= allocated:
        raise UploadRejected(
            "unsupported_format",
            f"DICOM with {allocated} bits allocated per sample is not supported (8 or 16 are).",
        )
    if samples not in (1, 3) or (samples == 3 and allocated != 8):
        raise UploadRejected("unsupported_format", "Unsupported DICOM colour layout.")
    return rows, columns, samples, allocated, stored


def _native_length_check(dataset, shape: tuple[int, int, int, int, int]) -> None:
    rows, columns, samples, allocated, _ = shape
    expected = rows * columns * samples * allocated // 8
    actual = len(dataset.PixelData or b"")
    if actual < expected:
        raise UploadRejected(
            "corrupt",
            f"The DICOM pixel data is shorter than its header says ({actual:,} of {expected:,} bytes).",
        )


def _dicom_render(
    dataset, shape: tuple[int, int, int, int, int], syntax: str
) -> tuple[np.ndarray, int]:
    """Pixels as a clinician would see them: modality LUT, then VOI LUT/window, MONOCHROME1
    inverted so that bone is bright, stretched to 16 bits (8 if the source has no more).

    Native grey pixels are read in place (a view of the pixel data, no copy) and the stored
    bits are masked and sign-extended inside the lookup table, so the only full-size array
    made is the rendered film."""
    rows, columns, samples, allocated, stored = shape
    if samples == 1 and syntax in NATIVE_SYNTAXES:
        big_endian = syntax == "1.2.840.10008.1.2.2"
        dtype = np.dtype(np.uint8) if allocated == 8 else np.dtype(">u2" if big_endian else "<u2")
        raw = np.frombuffer(dataset.PixelData, dtype=dtype, count=rows * columns).reshape(rows, columns)
        signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
        domain = _stored_values(allocated, stored, signed=signed)
    else:
        pixels = _decoded(dataset)
        if samples == 3:
            if pixels.shape != (rows, columns, 3) or pixels.dtype != np.uint8:
                raise UploadRejected("unsupported_format", "Unsupported DICOM colour layout.")
            return np.ascontiguousarray(pixels), 8
        if pixels.shape != (rows, columns) or pixels.dtype.itemsize not in (1, 2):
            raise UploadRejected("corrupt", "The DICOM pixel data does not match its header.")
        unsigned = np.uint8 if pixels.dtype.itemsize == 1 else np.uint16
        raw = pixels.view(unsigned)
        # Decoders have masked and sign-extended already: a raw value is the stored value.
        domain = np.arange(np.iinfo(unsigned).max + 1, dtype=np.int64).astype(unsigned).view(
            pixels.dtype
        ).astype(np.int64)
    out_dtype = np.uint16 if stored > 8 else np.uint8
    lut = _display_lut(dataset, raw, domain, out_dtype)
    return lut[raw], (16 if out_dtype == np.uint16 else 8)


def _decoded(dataset) -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        # The function, not Dataset.pixel_array: it does not keep a copy on the dataset.
        return pixel_array(dataset)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for undecodable pixels
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        label = getattr(syntax, "name", "unknown transfer syntax")
        raise UploadRejected("corrupt", f"The DICOM pixel data cannot be decoded ({label}).") from exc


def _stored_values(allocated: int, stored: int, *, signed: bool) -> np.ndarray:
    """The stored value of every possible raw sample: unused high bits masked off (old files
    kept overlays there), and sign-extended from BitsStored when the pixels are signed."""
    raw = np.arange(2**allocated, dtype=np.int64)
    values = raw & ((1 << stored) - 1)
    if signed:
        values = np.where(values >= 1 << (stored - 1), values - (1 << stored), values)
    return values


def _display_lut(dataset, raw: np.ndarray, domain: np.ndarray, out_dtype) -> np.ndarray:
    """Output value for every possible raw sample (`domain` holds their stored values).

    Applying the modality and VOI lookups once per possible value and then indexing gives
    exactly what applying them to every pixel would, in a fraction of the memory; the stretch
    covers the values present in the image."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    present = np.zeros(domain.shape, dtype=bool)
    present[raw] = True  # a histogram without a full-size temporary
    try:
        values = apply_voi_lut(apply_modality_lut(domain, dataset), dataset)
    except Exception as exc:  # noqa: BLE001 - malformed LUT attributes
        raise UploadRejected("corrupt", "The DICOM lookup tables are malformed.") from exc
    values = np.asarray(values, dtype=np.float64)
    if values.shape != domain.shape:
        raise UploadRejected("corrupt", "The DICOM lookup tables are malformed.")
    shown = values[present]
    v_low, v_high = float(shown.min()), float(shown.max())
    if str(dataset.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = v_high + v_low - values
    top = float(np.iinfo(out_dtype).max)
    if v_high <= v_low:
        return np.zeros(domain.shape, dtype=out_dtype)
    scaled = np.clip((values - v_low) * (top / (v_high - v_low)), 0.0, top)
    return np.rint(scaled).astype(out_dtype)


# --- de-identification ---------------------------------------------------------------------------

# DICOM PS3.15 Table E.1-1 as dicom-anonymizer ships it (generated from the standard's tables).
PROFILE_TABLE = "dicomfields_2026c"
# DCM code for the Basic Application Confidentiality Profile (PS3.16 CID 7050).
_BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")


class _KeyedUids(dict):
    """dicom-anonymizer's UID map, replaced: a new UID is a keyed hash of the old one.

    The library keeps every UID it has seen in a module-level dict, forever (a slow leak in a
    web process) and per process (two uploads of one study, served by two workers, would get two
    study UIDs). A keyed hash gives the same new UID for the same source UID everywhere, keeps
    nothing, and cannot be reversed without the secret key."""

    def __contains__(self, key: object) -> bool:
        return True

    def __setitem__(self, key, value) -> None:  # nothing to remember
        return None

    def get(self, key, default=None) -> str:
        digest = salted_hmac("cases.dicom.uid", str(key), secret=settings.SECRET_KEY).digest()
        # A UUID-derived UID (PS3.5 B.2): name-based, so the same source UID maps to the same one.
        return f"2.25.{uuid.UUID(bytes=digest[:16], version=5).int}"


def _anonymizer_rules() -> dict:
    from dicomanonymizer import simpledicomanonymizer

    if not isinstance(simpledicomanonymizer.dictionary, _KeyedUids):
        simpledicomanonymizer.dictionary = _KeyedUids()
    return simpledicomanonymizer.initialize_actions(PROFILE_TABLE)


def _datasets_in(dataset) -> list:
    """The dataset and every dataset nested in its sequences, depth first."""
    found = [dataset]
    for element in list(dataset):
        if element.VR == "SQ" and element.value is not None:
            for item in element.value:
                found.extend(_datasets_in(item))
    return found


def _is_curve_or_overlay(tag) -> bool:
    return 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF


def dicom_deidentify(dataset) -> bytes:
    """The dataset de-identified with DICOM PS3.15 Annex E's Basic Application Level
    Confidentiality Profile, serialised as a DICOM file.

    1. Every dataset, nested ones included, goes through the profile's actions for each attribute
       of Table E.1-1 (dicom-anonymizer): removed, emptied, replaced by a dummy, or (UIDs)
       replaced by a keyed hash, consistent within a study and across uploads.
    2. Private attributes, curves (50xx) and overlays (60xx, with their bitmaps) are removed.
    3. The file meta is rebuilt: SOP class and new instance UID, transfer syntax, our
       implementation; nothing else (no source or sending application titles).
    4. PatientIdentityRemoved is YES only when the file declares no burned-in annotation; the
       method says what was done.
    """
    from dicomanonymizer.simpledicomanonymizer import anonymize_dataset
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

    burned_in = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    rules = _anonymizer_rules()
    for item in _datasets_in(dataset):
        anonymize_dataset(item, extra_anonymization_rules=None, delete_private_tags=True,
                          base_rules_gen=lambda: dict(rules))
    for item in _datasets_in(dataset):
        for tag in [t for t in item.keys() if _is_curve_or_overlay(t) or t.is_private]:
            del item[tag]

    old_meta = getattr(dataset, "file_meta", None) or FileMetaDataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.get("SOPClassUID", old_meta.get("MediaStorageSOPClassUID"))
    if not dataset.get("SOPInstanceUID"):
        dataset.SOPInstanceUID = generate_uid()
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = old_meta.get("TransferSyntaxUID", EXPLICIT_VR_LITTLE_ENDIAN)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128

    dataset.PatientIdentityRemoved = "YES" if burned_in == "NO" else "NO"
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
    dataset.DeidentificationMethod = [
        "PS3.15 Basic Application Confidentiality Profile",
        f"dicom-anonymizer {version('dicom-anonymizer')} table {PROFILE_TABLE[-5:]}",
        "private, curve and overlay groups removed",
    ]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _BASIC_PROFILE_CODE
    dataset.DeidentificationMethodCodeSequence = Sequence([code])
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
