"""Cases and their radiographs.

A case belongs to the clinician who opened it. A radiograph is one uploaded image, stored under a
random name through the storage API; predictions (inference app) and reviews point at it.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other"
    UNKNOWN = "U", "Unknown"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    AWAITING_MODEL = "awaiting_model", "Awaiting model"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    REVIEWED = "reviewed", "Reviewed"


class Case(models.Model):
    patient_reference = models.CharField(
        max_length=64, help_text="The patient's reference as the hospital knows it (e.g. MRN)."
    )
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set instead of deleting once a radiograph of the case has a confirmed label: the case leaves
    # every list but its films stay for training and export (see cases.services.case_delete).
    archived_at = models.DateTimeField(null=True, blank=True, db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["patient_reference"]),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk}"


class ImageFormat(models.TextChoices):
    JPEG = "jpeg", "JPEG"
    PNG = "png", "PNG"
    DICOM = "dicom", "DICOM"


class BurnedInAnnotation(models.TextChoices):
    """Whether text that may identify the patient is burned into the pixels.

    Only a DICOM file that declares BurnedInAnnotation=NO is taken at its word. An absent
    attribute, and every JPEG or PNG (which cannot declare it, and are often exports or photos
    of films with a name or date on them), are unknown: treated as possibly identifying."""

    NO = "no", "No (declared by the DICOM file)"
    YES = "yes", "Yes (declared by the DICOM file)"
    UNKNOWN = "unknown", "Unknown (not declared)"


class RadiographQuerySet(models.QuerySet):
    def free_of_burned_in_text(self) -> RadiographQuerySet:
        """Films that may leave the clinical workflow (export, training): declared free of
        burned-in text, or looked at and cleared by an admin."""
        return self.filter(
            models.Q(burned_in_annotation=BurnedInAnnotation.NO)
            | models.Q(burned_in_cleared_at__isnull=False)
        )


def radiograph_upload_to(instance: Radiograph, filename: str) -> str:
    # Random names only: the client's file name may carry patient data.
    ext = {"jpeg": "jpg", "png": "png", "dicom": "png"}.get(instance.source_format, "bin")
    return f"radiographs/{uuid.uuid4().hex}.{ext}"


def dicom_upload_to(instance: Radiograph, filename: str) -> str:
    return f"radiographs/dicom/{uuid.uuid4().hex}.dcm"


class Radiograph(models.Model):
    """One uploaded image. `image` is what models read (a DICOM is rendered to a 16-bit or 8-bit
    PNG after its LUTs); `dicom_deidentified` keeps the de-identified DICOM itself."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="radiographs")
    image = models.FileField(upload_to=radiograph_upload_to, max_length=255)
    dicom_deidentified = models.FileField(upload_to=dicom_upload_to, max_length=255, blank=True)
    source_format = models.CharField(max_length=10, choices=ImageFormat.choices)
    content_type = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField(default=8)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="radiographs_uploaded"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Films that may carry the patient's name or date in their pixels stay out of export and
    # training until an admin has looked (cases.services.radiograph_clear_burned_in).
    burned_in_annotation = models.CharField(
        max_length=8, choices=BurnedInAnnotation.choices, default=BurnedInAnnotation.UNKNOWN
    )
    burned_in_cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="radiographs_burned_in_cleared",
    )
    burned_in_cleared_at = models.DateTimeField(null=True, blank=True)

    # The agreed label (enough agreeing reads, or an admin's adjudication); what retraining uses.
    confirmed_label = models.CharField(max_length=64, blank=True, default="", db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="radiographs_adjudicated",
    )
    # Decided once, when first confirmed: held-out radiographs join the fixed evaluation set and
    # never enter training, so the evaluation set grows but never reshuffles.
    in_evaluation_set = models.BooleanField(default=False)
    # Set instead of deleting once the label is confirmed (cases.services.radiograph_delete).
    archived_at = models.DateTimeField(null=True, blank=True, db_index=True)

    history = HistoricalRecords()
    objects = RadiographQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sha256"], name="radiograph_unique_per_case"),
        ]

    def __str__(self) -> str:
        return f"Radiograph {self.pk}"

    @property
    def burned_in_flagged(self) -> bool:
        """Kept out of export and training: text may be burned in and no admin has cleared it."""
        return self.burned_in_annotation != BurnedInAnnotation.NO and self.burned_in_cleared_at is None


UNGRADABLE = "ungradable"


# --- access log ---------------------------------------------------------------------------------


class AccessResource(models.TextChoices):
    """What kind of patient data was read."""

    CASE_LIST = "case_list", "Case list"
    CASE = "case", "Case"
    RADIOGRAPH = "radiograph", "Radiograph"
    IMAGE = "image", "Image"
    THUMBNAIL = "thumbnail", "Thumbnail"
    DICOM = "dicom", "DICOM"
    HEATMAP = "heatmap", "Heat-map"
    PREDICTION = "prediction", "Prediction"
    MEASUREMENT = "measurement", "Cobb measurement"
    MEASUREMENT_OVERLAY = "measurement_overlay", "Cobb overlay"
    EXPORT = "export", "Export"


class AccessChannel(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    ADMIN = "admin", "Django admin"


class AppendOnlyError(Exception):
    """An access log entry was to be changed or deleted; the log only grows."""


class AccessLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The access log is append-only.")

    def delete(self):
        raise AppendOnlyError("The access log is append-only.")

    def _raw_delete(self, using):
        raise AppendOnlyError("The access log is append-only.")


class AccessLogEntry(models.Model):
    """One read of patient data: who, what, when, from where. Written by `cases.audit`.

    Append-only: the ORM refuses updates and deletes here, and on PostgreSQL and SQLite a trigger
    (migration 0003) refuses them in the database too. Objects are referred to by id, not by
    foreign key, so that the entry outlives what it records and never names the patient itself.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    username = models.CharField(max_length=150)
    resource = models.CharField(max_length=20, choices=AccessResource.choices)
    channel = models.CharField(max_length=10, choices=AccessChannel.choices)
    case_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    radiograph_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    # The prediction, for heat-maps and predictions.
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    path = models.CharField(max_length=500)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [models.Index(fields=["user", "-at"])]

    def __str__(self) -> str:
        return f"{self.username} read {self.resource} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The access log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The access log is append-only.")


class CaseReportExport(models.Model):
    """One printed case report: who exported which case, when, and whether it carried the
    patient's identity. An export is a read of patient data, so it is recorded like a change."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="report_exports")
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_report_exports"
    )
    exported_at = models.DateTimeField(auto_now_add=True, db_index=True)
    film_count = models.PositiveIntegerField()
    identity_included = models.BooleanField()
    sha256 = models.CharField(max_length=64, help_text="Digest of the PDF as it was sent.")

    class Meta:
        ordering = ["-exported_at", "-id"]

    def __str__(self) -> str:
        return f"Report of case {self.case_id} by {self.exported_by_id}"
