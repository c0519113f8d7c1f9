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
from django.db.models import ProtectedError, TextChoices
from django.utils import timezone

from cases import hooks
from cases.imaging import CheckedImage, UploadRejected, image_check, upload_read
from cases.models import BurnedInAnnotation, Case, CaseStatus, Radiograph, Sex
from scoliosis_portal.roles import Role, user_is_admin, user_is_clinician

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
        username=username, email=email, password=password, is_staff=is_admin, is_superuser=is_admin
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
    """Owners (still clinicians) and admins change a case; nobody else (reviewers never even
    see one: cases.selectors)."""
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


# --- deleting: archive once a label is confirmed ------------------------------------------------


class DeleteOutcome(TextChoices):
    DELETED = "deleted", "Deleted"
    ARCHIVED = "archived", "Archived (a confirmed label keeps it)"


def radiograph_delete_guard(*, radiograph: Radiograph) -> None:
    """Refuse to delete a radiograph whose label was confirmed, whatever path the delete takes
    (a queryset, a cascade from its case, the shell): confirmed labels are never lost to a
    delete. The delete services archive such radiographs instead."""
    if radiograph.confirmed_label:
        raise ProtectedError(
            f"Radiograph {radiograph.pk} has a confirmed label: archive it, do not delete it.",
            {radiograph},
        )


def _archive(obj: Case | Radiograph, *, user, now, reason: str) -> None:
    obj.archived_at = now
    obj._history_user = user
    obj._change_reason = reason
    obj.save(update_fields=["archived_at"])


@transaction.atomic
def radiograph_delete(*, user, radiograph: Radiograph) -> DeleteOutcome:
    """Delete a radiograph, or archive it if its label was confirmed (it then leaves every list
    but stays for training and export). Owners and admins only."""
    if not case_can_change(user=user, case=radiograph.case):
        raise PermissionDenied("You may not delete this radiograph.")
    locked = Radiograph.objects.select_for_update().get(pk=radiograph.pk)
    if locked.confirmed_label:
        if locked.archived_at is None:
            _archive(locked, user=user, now=timezone.now(), reason="archived: confirmed label")
        return DeleteOutcome.ARCHIVED
    locked._history_user = user
    locked.delete()
    return DeleteOutcome.DELETED


@transaction.atomic
def case_delete(*, user, case: Case) -> DeleteOutcome:
    """Delete a case with its radiographs, or, if any of them has a confirmed label, archive the
    case and all its radiographs instead. Owners and admins only."""
    if not case_can_change(user=user, case=case):
        raise PermissionDenied("You may not delete this case.")
    locked = Case.objects.select_for_update().get(pk=case.pk)
    radiographs = list(locked.radiographs.select_for_update())
    if not any(r.confirmed_label for r in radiographs):
        locked._history_user = user
        locked.delete()
        return DeleteOutcome.DELETED
    now = timezone.now()
    for radiograph in radiographs:
        if radiograph.archived_at is None:
            _archive(radiograph, user=user, now=now, reason="archived with its case")
    if locked.archived_at is None:
        _archive(locked, user=user, now=now, reason="archived: confirmed labels")
    return DeleteOutcome.ARCHIVED


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


_BURNED_IN = {"YES": BurnedInAnnotation.YES, "NO": BurnedInAnnotation.NO}


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
        burned_in_annotation=_BURNED_IN.get(image.burned_in_annotation, BurnedInAnnotation.UNKNOWN),
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


@transaction.atomic
def radiograph_clear_burned_in(*, user, radiograph: Radiograph) -> Radiograph:
    """An admin has looked at the film and found no identifying text burned into it: it may now
    be exported and used for training. Recorded in the radiograph's history (who and when)."""
    if not user_is_admin(user):
        raise PermissionDenied("Only admins may clear a film for export and training.")
    radiograph = Radiograph.objects.select_for_update().get(pk=radiograph.pk)
    if not radiograph.burned_in_flagged:
        return radiograph
    radiograph.burned_in_cleared_by = user
    radiograph.burned_in_cleared_at = timezone.now()
    radiograph._history_user = user
    radiograph.save(update_fields=["burned_in_cleared_by", "burned_in_cleared_at"])
    logger.info("radiograph %s cleared of burned-in annotation by user %s", radiograph.pk, user.pk)
    return radiograph


def _after_upload(*, radiograph_ids: list[int]) -> None:
    """Runs after the upload commits: tell the apps above (inference queues the model's read).

    A receiver's failure never makes the upload fail: the radiographs are stored, and the
    inference sweep queues any radiograph that never got a prediction."""
    results = hooks.radiographs_uploaded.send_robust(sender=Radiograph, radiograph_ids=radiograph_ids)
    for receiver, outcome in results:
        if isinstance(outcome, Exception):
            logger.error(
                "upload hook %r failed for %d radiograph(s)",
                receiver, len(radiograph_ids), exc_info=outcome,
            )


# --- case status ------------------------------------------------------------------------------


def case_status_compute(*, case_id: int) -> str:
    """awaiting model while any unconfirmed radiograph still waits for the model (as the app
    registered in cases.hooks says); reviewed when every radiograph has a confirmed label;
    else awaiting review."""
    rows = list(Radiograph.objects.filter(case_id=case_id).values_list("pk", "confirmed_label"))
    if not rows:
        return CaseStatus.OPEN
    unconfirmed = [pk for pk, label in rows if not label]
    if not unconfirmed:
        return CaseStatus.REVIEWED
    if hooks.awaiting_model(unconfirmed):
        return CaseStatus.AWAITING_MODEL
    return CaseStatus.AWAITING_REVIEW


def case_status_refresh(*, case_id: int) -> str:
    """Recompute and store a case's status. Locks the case row so that two predictions finishing
    at once serialise and the later one sees the earlier one's committed result."""
    with transaction.atomic():
        current = Case.objects.select_for_update().filter(pk=case_id).values_list(
            "status", flat=True
        ).first()
        if current is None:
            return CaseStatus.OPEN
        status = case_status_compute(case_id=case_id)
        if status != current:
            # A system-driven change: update() keeps it out of the people's audit trail.
            Case.objects.filter(pk=case_id).update(status=status)
        return status
