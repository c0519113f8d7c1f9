"""factory_boy factories and synthetic images shared by the test suite.

Images are made here, in memory (Pillow, pydicom): real, decodable files, small and seeded.
"""
from __future__ import annotations

import hashlib
import io

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from factory.django import DjangoModelFactory
from PIL import Image

from cases.models import BurnedInAnnotation, Case, ImageFormat, Radiograph, Sex

PASSWORD = "correct-horse-battery-staple-42"


# --- images -------------------------------------------------------------------------------------


def spine_pixels(*, width: int = 96, height: int = 128, seed: int = 0, maximum: int = 255) -> np.ndarray:
    """A seeded grey image with a bright vertical band, a little like a spine radiograph."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if maximum > 255 else np.uint8
    pixels = rng.integers(0, maximum // 3, size=(height, width)).astype(dtype)
    centre = width // 2
    pixels[:, max(centre - width // 10, 0) : centre + width // 10] = int(maximum * 0.9)
    return pixels


def png_bytes(*, width: int = 96, height: int = 128, seed: int = 0, bit_depth: int = 8) -> bytes:
    maximum = 65535 if bit_depth == 16 else 255
    pixels = spine_pixels(width=width, height=height, seed=seed, maximum=maximum)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
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


def upload(data: bytes, name: str = "image.png", content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- factories ----------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@hospital.example")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        """`UserFactory(role="clinician")` puts the user in that role's group."""
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class CaseFactory(DjangoModelFactory):
    class Meta:
        model = Case

    owner = factory.SubFactory(UserFactory, role="clinician")
    patient_reference = factory.Sequence(lambda n: f"MRN-{n:06d}")
    sex = Sex.FEMALE
    birth_year = 2008
    notes = ""


class RadiographFactory(DjangoModelFactory):
    """A stored radiograph with a real small PNG (unique per instance through `seed`)."""

    class Meta:
        model = Radiograph

    class Params:
        seed = factory.Sequence(int)
        image_bytes = factory.LazyAttribute(
            lambda o: png_bytes(width=o.width, height=o.height, seed=o.seed)
        )

    case = factory.SubFactory(CaseFactory)
    uploaded_by = factory.LazyAttribute(lambda o: o.case.owner)
    source_format = ImageFormat.PNG
    content_type = "image/png"
    width = 96
    height = 128
    bit_depth = 8
    # Synthetic pixels with no text: declared free of burned-in annotation, as a DICOM could be.
    burned_in_annotation = BurnedInAnnotation.NO
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.image_bytes).hexdigest())
    size_bytes = factory.LazyAttribute(lambda o: len(o.image_bytes))
    image = factory.LazyAttribute(lambda o: ContentFile(o.image_bytes, name="factory.png"))
