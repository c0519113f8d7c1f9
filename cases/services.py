"""Writes of the cases app: accounts and roles, cases, radiograph uploads.

Each service is keyword-only, runs in one transaction and records who did it in the history.
Who may *see* an object is decided in `cases.selectors`; these services check who may *change*.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from cases.imaging import CheckedImage, UploadRejected, image_check, upload_read
from cases.models import Case, Radiograph, Sex
from cases.roles import Role, user_is_admin, user_is_clinician

logger = logging.getLogger(__name__)

User = get_user_model()


# --- accounts -----------------------------------------------------------------------------------


def roles_ensure() -> dict[str, Group]:
    """The role groups, created if missing (idempotent)."""
    return {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}


@transaction.atomic
def user_create(
    *, username: str, role: Role | str, password: str, email: str = ""
) -> AbstractBaseUser:
    """A new active user in one role. Admins are staff and superusers (they manage users)."""
    role = Role(role)
    is_admin = role == Role.ADMIN
    user = User.objects.create_user(
        username=username,
        email=email,
        password=password,
        is_staff=is_admin,
        is_superuser=is_admin,
    )
    groups = roles_ensure()
    user.groups.add(groups[role])
    if role == Role.SENIOR_REVIEWER:
        user.groups.add(groups[Role.REVIEWER])  # senior is a flag on a reviewer, not a new job
    return user


# --- cases --------------------------------------------------------------------------------------


def case_can_create(*, user) -> bool:
    return user_is_clinician(user) or user_is_admin(user)


def case_can_change(*, user, case: Case) -> bool:
    """Owners (still clinicians) and admins change a case; reviewers only read it."""
    if user_is_admin(user):
        return True
    return user_is_clinician(user) and case.owner_id == user.pk


@transaction.atomic
def case_create(
    *,
    user,
    patient_reference: str,
    sex: Sex | str = Sex.UNKNOWN,
    birth_year: int | None = None,
    notes: str = "",
) -> Case:
    if not case_can_create(user=user):
        raise PermissionDenied("Only clinicians and admins open cases.")
    case = Case(
        owner=user,
        patient_reference=patient_reference.strip(),
        sex=Sex(sex),
        birth_year=birth_year,
        notes=notes,
    )
    case._history_user = user
    case.save()
    return case


_CASE_EDITABLE_FIELDS = frozenset({"patient_reference", "sex", "birth_year", "notes"})


@transaction.atomic
def case_update(*, user, case: Case, data: dict) -> Case:
    """Change the patient fields or notes of a case. Unknown keys are a programming error."""
    unknown = set(data) - _CASE_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if not case_can_change(user=user, case=case):
        raise PermissionDenied("You may read this case but not change it.")
    case = Case.objects.select_for_update().get(pk=case.pk)
    changed = [name for name, value in data.items() if getattr(case, name) != value]
    if not changed:
        return case
    for name in changed:
        value = data[name]
        setattr(case, name, value.strip() if name == "patient_reference" else value)
    case._history_user = user
    case.save(update_fields=[*changed, "updated_at"])
    return case


# --- radiographs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRejection:
    name: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "code": self.code, "message": self.message}


class UploadFailed(Exception):
    """At least one file was refused; nothing of the batch was stored."""

    def __init__(self, rejections: Sequence[FileRejection]) -> None:
        super().__init__("; ".join(f"{r.name}: {r.message}" for r in rejections))
        self.rejections = list(rejections)


@dataclass
class _StoredNames:
    names: list[str] = field(default_factory=list)

    def delete_all(self) -> None:
        for name in self.names:
            try:
                default_storage.delete(name)
            except Exception:  # noqa: BLE001 - best effort; the row never existed
                logger.exception("could not delete orphaned upload %s", name)


def stored_files_delete_on_commit(*, names: Sequence[str]) -> None:
    """Delete stored files once the transaction that deleted their rows commits.

    Called when radiograph or prediction rows go (a case deleted in the admin, say): the image,
    its thumbnail and Grad-CAM overlay carry patient pixels and must not outlive their rows. A
    rolled-back deletion keeps them; a file already gone is not an error.
    """
    wanted = [name for name in names if name]
    if wanted:
        transaction.on_commit(_StoredNames(wanted).delete_all, robust=True)


def thumbnail_name_for(image_name: str) -> str:
    """Where a radiograph's thumbnail lives: derived from its (random) image name."""
    stem = image_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"thumbnails/{stem}.jpg"


def _display_name(uploaded: UploadedFile, index: int) -> str:
    # Shown back to the uploader only; never stored or logged (it may carry patient data).
    return (uploaded.name or f"file {index + 1}")[:200]


def _check_all(
    *, case: Case, files: Sequence[UploadedFile]
) -> tuple[list[CheckedImage], list[FileRejection]]:
    checked: list[CheckedImage] = []
    rejections: list[FileRejection] = []
    seen: dict[str, str] = {}
    existing = set(case.radiographs.values_list("sha256", flat=True))
    for index, uploaded in enumerate(files):
        name = _display_name(uploaded, index)
        try:
            image = image_check(data=upload_read(uploaded=uploaded))
        except UploadRejected as exc:
            rejections.append(FileRejection(name, exc.code, exc.message))
            continue
        if image.sha256 in existing:
            rejections.append(
                FileRejection(name, "duplicate", "This exact file is already in this case.")
            )
        elif image.sha256 in seen:
            rejections.append(
                FileRejection(
                    name, "duplicate", f"This is the same file as {seen[image.sha256]} in this upload."
                )
            )
        else:
            seen[image.sha256] = name
            checked.append(image)
    return checked, rejections


def _radiograph_store(*, case: Case, user, image: CheckedImage, stored: _StoredNames) -> Radiograph:
    radiograph = Radiograph(
        case=case,
        source_format=image.source_format,
        content_type=image.content_type,
        sha256=image.sha256,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        bit_depth=image.bit_depth,
        uploaded_by=user,
    )
    radiograph.image.save(f"upload.{image.image_extension}", ContentFile(image.image_bytes), save=False)
    stored.names.append(radiograph.image.name)
    if image.dicom_deidentified_bytes is not None:
        radiograph.dicom_deidentified.save(
            "upload.dcm", ContentFile(image.dicom_deidentified_bytes), save=False
        )
        stored.names.append(radiograph.dicom_deidentified.name)
    thumb = default_storage.save(
        thumbnail_name_for(radiograph.image.name), ContentFile(image.thumbnail_bytes)
    )
    stored.names.append(thumb)
    radiograph._history_user = user
    radiograph.save()
    return radiograph


def radiograph_upload(*, user, case: Case, files: Sequence[UploadedFile]) -> list[Radiograph]:
    """Store a batch of uploaded images on a case: all of them, or none.

    1. Check the uploader may change the case and the batch size (settings.UPLOAD_MAX_FILES).
    2. Decode every file (no storage, no database); collect a rejection per bad or duplicate file.
    3. If any file was rejected, raise UploadFailed listing them all: nothing is stored.
    4. Otherwise, in one transaction, store each image, its thumbnail and (DICOM) its
       de-identified copy, and insert the rows. If anything fails half-way, the transaction
       rolls back and the files already written are deleted, so no orphan remains.
    5. After commit, hand the new radiograph ids to inference (see `_after_upload`).
    """
    if not case_can_change(user=user, case=case):
        raise PermissionDenied("You may read this case but not upload to it.")
    if not files:
        raise UploadFailed([FileRejection("", "no_file", "Choose at least one image to upload.")])
    limit = int(getattr(settings, "UPLOAD_MAX_FILES", 20))
    if len(files) > limit:
        raise UploadFailed(
            [FileRejection("", "too_many_files", f"Upload at most {limit} files at a time.")]
        )
    checked, rejections = _check_all(case=case, files=files)
    if rejections:
        raise UploadFailed(rejections)

    stored = _StoredNames()
    try:
        with transaction.atomic():
            radiographs = [
                _radiograph_store(case=case, user=user, image=image, stored=stored)
                for image in checked
            ]
            ids = [r.pk for r in radiographs]
            transaction.on_commit(lambda: _after_upload(radiograph_ids=ids))
    except IntegrityError as exc:
        # A concurrent upload of the same bytes to the same case won the unique constraint.
        stored.delete_all()
        raise UploadFailed(
            [FileRejection("", "duplicate", "One of these files was just added to this case.")]
        ) from exc
    except BaseException:
        stored.delete_all()
        raise
    return radiographs


def _after_upload(*, radiograph_ids: list[int]) -> None:
    """Runs after the upload commits: queue the model's read of the new radiographs.

    The import is guarded so the cases app stands alone (and so a missing or broken inference
    app never makes an upload fail: the radiographs are stored; the sweep can queue them later).
    """
    try:
        from inference.services import predictions_enqueue_for_radiographs
    except ImportError:
        return
    try:
        predictions_enqueue_for_radiographs(radiograph_ids=radiograph_ids)
    except Exception:  # noqa: BLE001 - the upload itself succeeded; log and move on
        logger.exception("could not queue predictions for %d radiograph(s)", len(radiograph_ids))
