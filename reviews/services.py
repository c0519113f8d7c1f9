"""Writes of review: a reviewer's read, the confirmed label, an admin's adjudication."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import UNGRADABLE, Radiograph
from reviews.models import Review
from reviews.selectors import label_choices_for_radiograph
from scoliosis_portal.roles import user_is_admin, user_is_reviewer, user_may_adjudicate


def _agreement_required() -> int:
    return max(1, int(getattr(settings, "REVIEW_AGREEMENT_REQUIRED", 1)))


def in_evaluation_share(radiograph_id: int) -> bool:
    """Deterministic hold-out by a hash of the id: the same radiograph always lands on the same
    side, so the evaluation set grows but never reshuffles."""
    share = float(getattr(settings, "REVIEW_EVALUATION_SHARE", 0.2))
    digest = hashlib.sha256(f"evaluation-set:{radiograph_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _validate_label(radiograph: Radiograph, label: str) -> str:
    label = (label or "").strip()
    allowed = label_choices_for_radiograph(radiograph)
    if label not in allowed:
        raise ValidationError({"label": f"Choose one of: {', '.join(allowed)}."})
    return label


def radiograph_confirmation_refresh(*, radiograph: Radiograph) -> Radiograph:
    """Recompute the confirmed label from the reads (caller holds the radiograph row lock).

    1. An admin's adjudication stands until an admin changes it.
    2. Otherwise the label is confirmed when REVIEW_AGREEMENT_REQUIRED reads agree on it and no
       read says anything else; disagreement leaves it unconfirmed, for adjudication.
    3. The first confirmation ever decides, once, whether the radiograph joins the evaluation set.
    """
    if radiograph.adjudicated_by_id:
        return radiograph
    labels = list(radiograph.reviews.values_list("label", flat=True))
    agreed = ""
    if labels and len(set(labels)) == 1 and len(labels) >= _agreement_required():
        agreed = labels[0]
    if agreed == radiograph.confirmed_label:
        return radiograph
    first_time = agreed and not radiograph.history.exclude(confirmed_at=None).exists()
    radiograph.confirmed_label = agreed
    radiograph.confirmed_at = timezone.now() if agreed else None
    fields = ["confirmed_label", "confirmed_at"]
    if first_time and agreed != UNGRADABLE:
        radiograph.in_evaluation_set = in_evaluation_share(radiograph.pk)
        fields.append("in_evaluation_set")
    radiograph._change_reason = "reads agree" if agreed else "reads disagree"
    radiograph.save(update_fields=fields)
    return radiograph


def review_submit(
    *, radiograph: Radiograph, reviewer, label: str, comment: str = "", blind: bool = False
) -> Review:
    """A reviewer's current read of a radiograph: created, or changed (the history keeps every
    version, with who and when). Then the confirmed label and the case status follow."""
    if not user_is_reviewer(reviewer):
        raise PermissionDenied("Only reviewers may read radiographs.")
    label = _validate_label(radiograph, label)
    with transaction.atomic():
        locked = Radiograph.objects.select_for_update().get(pk=radiograph.pk)
        review = Review.objects.filter(radiograph=locked, reviewer=reviewer).first()
        if review is None:
            # `blind` describes the first commitment; a later change (made with the model's
            # answer in view) does not rewrite how the read started.
            review = Review(radiograph=locked, reviewer=reviewer, blind=blind)
        review.label = label
        review.comment = (comment or "").strip()
        review._history_user = reviewer
        review.save()
        radiograph_confirmation_refresh(radiograph=locked)
        from cases.services import case_status_refresh

        case_status_refresh(case_id=locked.case_id)
    return review


def radiograph_adjudicate(*, radiograph: Radiograph, admin, label: str, reason: str = "") -> Radiograph:
    """An admin or a senior reviewer settles the label (typically when reads disagree). Audited
    in the history. A senior reviewer who read the film is one side of the dispute: the call is
    then left to another senior reviewer or an admin."""
    if not user_may_adjudicate(admin):
        raise PermissionDenied("Only admins and senior reviewers may adjudicate.")
    if not user_is_admin(admin) and radiograph.reviews.filter(reviewer=admin).exists():
        raise PermissionDenied("You read this film: another senior reviewer or an admin settles it.")
    label = _validate_label(radiograph, label)
    with transaction.atomic():
        locked = Radiograph.objects.select_for_update().get(pk=radiograph.pk)
        first_time = not locked.history.exclude(confirmed_at=None).exists()
        locked.confirmed_label = label
        locked.confirmed_at = timezone.now()
        locked.adjudicated_by = admin
        fields = ["confirmed_label", "confirmed_at", "adjudicated_by"]
        if first_time and label != UNGRADABLE:
            locked.in_evaluation_set = in_evaluation_share(locked.pk)
            fields.append("in_evaluation_set")
        locked._history_user = admin
        locked._change_reason = (f"adjudicated: {reason}" if reason else "adjudicated")[:100]
        locked.save(update_fields=fields)
        from cases.services import case_status_refresh

        case_status_refresh(case_id=locked.case_id)
    return locked
