"""Cases and their radiographs.

A case belongs to the clinician who opened it. A radiograph is one uploaded image, stored under a
random name through the storage API; predictions (inference app) and reviews point at it.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
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

    history = HistoricalRecords()

    class Meta:
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sha256"], name="radiograph_unique_per_case"),
        ]

    def __str__(self) -> str:
        return f"Radiograph {self.pk}"


UNGRADABLE = "ungradable"


class Review(models.Model):
    """One reviewer's current read of one radiograph. Changeable; history keeps every version."""

    radiograph = models.ForeignKey(Radiograph, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    # A key of the model version's label set, or UNGRADABLE.
    label = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    blind = models.BooleanField(
        default=False, help_text="Committed before the model's answer was shown."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["radiograph", "reviewer"], name="one_review_per_reviewer"
            ),
        ]

    def __str__(self) -> str:
        return f"Review {self.pk} of radiograph {self.radiograph_id}"


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
