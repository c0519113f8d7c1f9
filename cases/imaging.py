"""Check an uploaded radiograph by decoding it, and turn it into what we store.

Nothing here trusts a file's name or its declared content type: the format is read from the
bytes, the header is checked before any pixel is decoded (so a decompression bomb is refused
before it can allocate), then the pixels are decoded in full (so a truncated file is refused).
No Django models, no storage: the service decides what to keep.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageFile, UnidentifiedImageError

from cases.metadata import MetadataStripError, jpeg_strip_metadata, png_strip_metadata
from cases.models import ImageFormat

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


def max_upload_bytes() -> int:
    return int(getattr(settings, "UPLOAD_MAX_BYTES", 50 * 1024 * 1024))


def _min_side() -> int:
    return int(getattr(settings, "UPLOAD_MIN_SIDE_PX", 64))


def _max_pixels() -> int:
    return int(getattr(settings, "UPLOAD_MAX_PIXELS", 100_000_000))


def upload_read(*, uploaded: UploadedFile) -> bytes:
    """The upload's bytes, refusing empty and oversized files without reading past the limit."""
    limit = max_upload_bytes()
    if uploaded.size is not None and uploaded.size > limit:
        raise UploadRejected("too_large", _too_large_message(limit))
    uploaded.seek(0)
    chunks: list[bytes] = []
    total = 0
    for chunk in uploaded.chunks():
        total += len(chunk)
        if total > limit:
            raise UploadRejected("too_large", _too_large_message(limit))
        chunks.append(chunk)
    if total == 0:
        raise UploadRejected("empty", "The file is empty (0 bytes).")
    return b"".join(chunks)


def _too_large_message(limit: int) -> str:
    return f"The file is larger than the {limit / (1024 * 1024):.0f} MB limit."


def image_check(*, data: bytes) -> CheckedImage:
    """Decode `data` as JPEG, PNG or DICOM and return what to store, or raise UploadRejected."""
    if not data:
        raise UploadRejected("empty", "The file is empty (0 bytes).")
    if len(data) > max_upload_bytes():
        raise UploadRejected("too_large", _too_large_message(max_upload_bytes()))
    if data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return _dicom_check(data)
    if data.startswith(PNG_MAGIC):
        return _raster_check(data, ImageFormat.PNG)
    if data.startswith(JPEG_MAGIC):
        return _raster_check(data, ImageFormat.JPEG)
    raise UploadRejected(
        "unsupported_format",
        "This is not a JPEG, PNG or DICOM image (its content was checked, not its name).",
    )


def _check_dimensions(width: int, height: int) -> None:
    if width * height > _max_pixels():
        raise UploadRejected(
            "too_many_pixels",
            f"The image claims {width}x{height} pixels, more than we accept "
            f"({_max_pixels():,} pixels); it may be a decompression bomb.",
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
        _check_dimensions(width, height)
        if getattr(image, "n_frames", 1) > 1 or getattr(image, "is_animated", False):
            raise UploadRejected(
                "multi_frame", "Animated or multi-frame images are not supported; upload one frame."
            )
        try:
            image.load()
        except _DECODE_ERRORS as exc:
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
    """A small 8-bit JPEG preview of any accepted image (16-bit is stretched to its range)."""
    display = _to_8bit(image)
    display.thumbnail((THUMBNAIL_SIDE_PX, THUMBNAIL_SIDE_PX))
    buffer = io.BytesIO()
    display.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("L", "RGB"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return Image.fromarray(_stretch(np.asarray(image), np.uint8), mode="L")
    if image.mode in ("LA", "1"):
        return image.convert("L")
    return image.convert("RGB")


def _stretch(pixels: np.ndarray, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """Map the array's own range linearly onto the full range of `dtype`."""
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    top = float(np.iinfo(dtype).max)
    if high <= low:
        return np.zeros(values.shape, dtype=dtype)
    return np.rint((values - low) * (top / (high - low))).astype(dtype)


# --- DICOM ------------------------------------------------------------------------------------

# Attributes of DICOM PS3.15 Annex E's Basic Application Level Confidentiality Profile that can
# identify a patient, a person or a place. Type-2 attributes a reader may expect are blanked;
# the rest are removed. Instance UIDs are replaced, and private tags removed, separately.
_BLANK = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber", "ContentDate", "ContentTime",
)
_REMOVE = (
    "AcquisitionDate", "AcquisitionDateTime", "AcquisitionTime", "AcquisitionComments",
    "AcquisitionDeviceProcessingDescription", "AdditionalPatientHistory",
    "AdmissionID", "AdmittingDate", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "AdmittingTime", "Allergies", "Arbitrary", "AuthorObserverSequence",
    "BranchOfService", "CommentsOnThePerformedProcedureStep", "ConsultingPhysicianName",
    "ContributionDescription", "CountryOfResidence", "CurrentPatientLocation", "CurveDate",
    "CurveTime", "CustodialOrganizationSequence", "DataSetTrailingPadding", "DerivationDescription",
    "DeviceSerialNumber", "DeviceUID", "DistributionAddress", "DistributionName",
    "EthnicGroup", "FillerOrderNumberImagingServiceRequest", "FrameComments",
    "GraphicAnnotationSequence", "HumanPerformerName", "HumanPerformerOrganization",
    "IconImageSequence", "IdentifyingComments", "ImageComments", "ImagePresentationComments",
    "ImagingServiceRequestComments", "Impressions", "InstanceCreationDate", "InstanceCreationTime",
    "InstanceCreatorUID", "InstitutionAddress", "InstitutionCodeSequence", "InstitutionName",
    "InstitutionalDepartmentName", "InsurancePlanIdentification", "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence", "InterpretationAuthor", "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer", "InterpretationRecorder", "InterpretationText",
    "InterpretationTranscriber", "IssuerOfAdmissionID", "IssuerOfPatientID", "LastMenstrualDate",
    "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank", "ModifiedAttributesSequence",
    "ModifyingDeviceID", "ModifyingDeviceManufacturer", "NameOfPhysiciansReadingStudy",
    "NamesOfIntendedRecipientsOfResults", "Occupation", "OperatorIdentificationSequence",
    "OperatorsName", "OriginalAttributesSequence", "OrderCallbackPhoneNumber",
    "OrderEnteredBy", "OrderEntererLocation", "OtherPatientIDs", "OtherPatientIDsSequence",
    "OtherPatientNames", "OverlayComments", "OverlayDate", "OverlayTime",
    "ParticipantSequence", "PatientAddress", "PatientAge", "PatientBirthName", "PatientBirthTime",
    "PatientComments", "PatientInstitutionResidence", "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName", "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence", "PatientReligiousPreference", "PatientSexNeutered",
    "PatientSize", "PatientState", "PatientTelephoneNumbers", "PatientTransportArrangements",
    "PatientWeight", "PerformedLocation", "PerformedProcedureStepDescription",
    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedStationAETitle", "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName", "PerformedStationNameCodeSequence", "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName", "PersonAddress", "PersonIdentificationCodeSequence", "PersonName",
    "PersonTelephoneNumbers", "PhysicianApprovingInterpretation", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PlacerOrderNumberImagingServiceRequest", "PregnancyStatus", "PreMedication",
    "ProtocolName", "ReasonForTheImagingServiceRequest", "ReasonForStudy",
    "ReferencedDigitalSignatureSequence", "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence", "ReferencedPerformedProcedureStepSequence",
    "ReferencedSOPInstanceMACSequence", "ReferencedStudySequence",
    "ReferringPhysicianAddress", "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers", "RegionOfResidence", "RequestAttributesSequence",
    "RequestedContrastAgent", "RequestedProcedureComments", "RequestedProcedureDescription",
    "RequestedProcedureID", "RequestedProcedureLocation", "RequestingPhysician",
    "RequestingService", "ResponsibleOrganization", "ResponsiblePerson", "ResultsComments",
    "ResultsDistributionListSequence", "ResultsIDIssuer", "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence", "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName", "ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepEndTime", "ScheduledProcedureStepID", "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
    "ScheduledStationAETitle", "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName", "ScheduledStationNameCodeSequence", "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle", "SeriesDate", "SeriesDescription", "SeriesTime",
    "ServiceEpisodeDescription", "ServiceEpisodeID", "SmokingStatus", "SourceImageSequence",
    "SpecialNeeds", "StationName", "StudyComments", "StudyDescription", "StudyIDIssuer",
    "TextComments", "TextString", "TopicAuthor", "TopicKeywords", "TopicSubject", "TopicTitle",
    "VerifyingObserverIdentificationCodeSequence", "VerifyingObserverName",
    "VerifyingObserverSequence", "VerifyingOrganization", "VisitComments",
)
_REPLACE_UID = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID", "ReferencedSOPInstanceUID", "ConcatenationUID",
    "DimensionOrganizationUID", "IrradiationEventUID", "StorageMediaFileSetUID",
)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _dicom_check(data: bytes) -> CheckedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, *_DECODE_ERRORS, KeyError, TypeError) as exc:
        raise UploadRejected("corrupt", "The file starts like DICOM but cannot be read.") from exc
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise UploadRejected(
            "no_pixel_data", "This DICOM file has no image (no pixel data); upload the image itself."
        )
    try:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        rows, columns = int(dataset.Rows), int(dataset.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UploadRejected("corrupt", "The DICOM image header is incomplete.") from exc
    if frames > 1:
        raise UploadRejected(
            "multi_frame", f"Multi-frame DICOM ({frames} frames) is not supported; upload one image."
        )
    _check_dimensions(columns, rows)
    rendered, bit_depth = _dicom_render(dataset)
    buffer = io.BytesIO()
    rendered.save(buffer, format="PNG")
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
        thumbnail_bytes=thumbnail_render(rendered),
        dicom_deidentified_bytes=dicom_deidentify(dataset),
    )


def _dicom_render(dataset) -> tuple[Image.Image, int]:
    """Pixels as a clinician would see them: modality LUT, then VOI LUT/window, MONOCHROME1
    inverted so that bone is bright, stretched to 16 bits (8 if the source has no more)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for undecodable pixels
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        label = getattr(syntax, "name", "unknown transfer syntax")
        raise UploadRejected(
            "corrupt", f"The DICOM pixel data cannot be decoded ({label})."
        ) from exc
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        if pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise UploadRejected("unsupported_format", "Unsupported DICOM colour layout.")
        return Image.fromarray(_stretch(pixels, np.uint8), mode="RGB"), 8
    try:
        values = apply_voi_lut(apply_modality_lut(pixels, dataset), dataset)
    except Exception as exc:  # noqa: BLE001 - malformed LUT attributes
        raise UploadRejected("corrupt", "The DICOM lookup tables are malformed.") from exc
    values = np.asarray(values, dtype=np.float64)
    if str(dataset.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = values.max() + values.min() - values
    if int(dataset.get("BitsStored", 8) or 8) > 8:
        return Image.fromarray(_stretch(values, np.uint16)), 16
    return Image.fromarray(_stretch(values, np.uint8), mode="L"), 8


def dicom_deidentify(dataset) -> bytes:
    """The dataset with PS3.15 basic-profile identifying attributes blanked or removed, private
    tags dropped and instance UIDs replaced, serialised as a DICOM file."""
    from pydicom.uid import generate_uid

    uid_map: dict[str, str] = {}

    def new_uid(old: str) -> str:
        return uid_map.setdefault(str(old), generate_uid())

    from pydicom.datadict import tag_for_keyword

    remove = [tag for tag in map(tag_for_keyword, _REMOVE) if tag is not None]
    dataset.remove_private_tags()
    for item in _datasets_in(dataset):
        for tag in remove:
            if tag in item:
                del item[tag]
        for keyword in _BLANK:
            if keyword in item:
                item[keyword].value = ""
        for keyword in _REPLACE_UID:
            if keyword in item and item[keyword].value:
                item[keyword].value = new_uid(item[keyword].value)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in dataset:
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def _datasets_in(dataset) -> Iterable:
    """The dataset and every dataset nested in its sequences, depth first."""
    yield dataset
    for element in list(dataset):
        if element.VR == "SQ":
            for item in element.value:
                yield from _datasets_in(item)
