"""Hostile image files, made in memory without a full-size array: headers that lie about their
size, deflate bombs, raw PNG and DICOM writers. Used by the upload tests (tests/cases/) and by
bench/hostile_uploads.py; no Django here, so the bench imports it as it is.
"""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
MB = 1024 * 1024


# --- PNG ----------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_from_rows(width: int, height: int, *, bit_depth: int, colour: int, rows: Callable[[int], bytes],
                  extra: bytes = b"", level: int = 6) -> bytes:
    """A real PNG (colour 0: grey, 2: RGB), compressed row by row so that no full-size array is
    made; `extra` chunks go before the pixels."""
    packer = zlib.compressobj(level)
    parts = [packer.compress(b"\x00" + rows(y)) for y in range(height)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", header) + extra
            + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b""))


def png_claiming(width: int, height: int, *, bit_depth: int = 8, rows: int = 4) -> bytes:
    """A grey PNG whose header claims width x height pixels but which holds only `rows` rows of
    them: a few KB that a careless decoder would grow to the full image."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    data = zlib.compress(bytes((1 + width * bit_depth // 8) * rows), 9)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


# --- DICOM --------------------------------------------------------------------------------------


def dicom_header(rows: int, columns: int, *, bits_stored: int = 16, frames: int = 1) -> Dataset:
    """The attributes of a grey DX image, 16 bits a sample, without pixel data."""
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    return ds


def dicom_dataset_bytes(ds: Dataset) -> bytes:
    """`ds` encoded explicit VR little endian, without the file's preamble and meta group."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_dataset(out, ds)
    return out.getvalue()


def dicom_file(ds: Dataset, syntax: str, body: bytes) -> bytes:
    """A DICOM file: preamble, meta group naming `syntax`, then `body` (the dataset, so encoded)."""
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    head = io.BytesIO()
    head.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(head, meta, enforce_standard=True)
    return head.getvalue() + body


def dicom_uncompressed(ds: Dataset, pixel_data: bytes) -> bytes:
    """`ds` with `pixel_data`, uncompressed (whatever its header claims)."""
    ds.PixelData = pixel_data
    return dicom_file(ds, ExplicitVRLittleEndian, dicom_dataset_bytes(ds))


def dicom_deflate_bomb(*, pixel_bytes: int, rows: int = 2000, columns: int = 2000) -> bytes:
    """A deflated DICOM whose pixel data inflates to `pixel_bytes` zeros, compressed as it goes."""
    ds = dicom_header(rows, columns)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    pixel_header = b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", pixel_bytes)
    parts = [packer.compress(dicom_dataset_bytes(ds) + pixel_header)]
    zeros = bytes(MB)
    for start in range(0, pixel_bytes, len(zeros)):
        parts.append(packer.compress(zeros[: min(len(zeros), pixel_bytes - start)]))
    parts.append(packer.flush())
    return dicom_file(ds, DEFLATED, b"".join(parts))
