"""Synthetic images for the whole suite: real, decodable files, made in memory, small and seeded.

No Django here, so the engine tests (which run without settings or a database) use the same
`png_bytes` as the platform tests.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def spine_pixels(*, width: int = 96, height: int = 128, seed: int = 0, maximum: int = 255) -> np.ndarray:
    """A seeded grey image with a bright vertical band, a little like a spine radiograph."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if maximum > 255 else np.uint8
    pixels = rng.integers(0, maximum // 3, size=(height, width)).astype(dtype)
    centre = width // 2
    pixels[:, max(centre - width // 10, 0) : centre + width // 10] = int(maximum * 0.9)
    return pixels


def png_bytes(
    *, width: int = 96, height: int = 128, seed: int = 0, bit_depth: int = 8, pixels: np.ndarray | None = None,
    compress_level: int = -1,
) -> bytes:
    """A PNG of `pixels` (grey 8 or 16 bits, or RGB), or of a seeded spine-like image of the given
    size and bit depth. `compress_level` is zlib's (-1: its default; 1: fast, for large films)."""
    if pixels is None:
        maximum = 65535 if bit_depth == 16 else 255
        pixels = spine_pixels(width=width, height=height, seed=seed, maximum=maximum)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def jpeg_bytes(*, width: int = 96, height: int = 128, seed: int = 0, mode: str = "L") -> bytes:
    image = Image.fromarray(spine_pixels(width=width, height=height, seed=seed)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def dicom_bytes(
    *,
    rows: int = 128,
    columns: int = 96,
    pixels: np.ndarray | None = None,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    frames: int = 1,
    with_pixels: bool = True,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    patient_name: str = "Doe^Jane",
    patient_id: str = "MRN-SECRET-4242",
    birth_date: str = "19700101",
) -> bytes:
    """A DX DICOM file with identifying attributes a de-identifier must remove."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientAddress = "1 Hospital Road, Springfield"
    ds.OtherPatientIDs = "ALT-" + patient_id
    ds.InstitutionName = "St Elsewhere General"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.StudyDate = "20240102"
    ds.AccessionNumber = "ACC-998877"
    ds.add_new((0x0011, 0x0010), "LO", "ACME private")
    ds.add_new((0x0011, 0x1001), "LO", "private " + patient_id)
    if with_pixels:
        if pixels is None:
            pixels = spine_pixels(width=columns, height=rows, maximum=2**bits_stored - 1)
        rows, columns = pixels.shape
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 0
        data = pixels.astype("<u2").tobytes()
        if frames > 1:
            ds.NumberOfFrames = frames
            data = data * frames
        ds.PixelData = data
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
            ds.RescaleType = "US"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
