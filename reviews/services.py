"""Writes of review: a reviewer's read, the confirmed label, an admin's adjudication."""
from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import UNGRADABLE, Radiograph
from inference.selectors import measurement_latest_for_radiograph
from reviews.models import MeasurementCorrection, Review
from reviews.selectors import label_choices_for_radiograph, measurement_correction_latest
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


# --- measurement corrections -----------------------------------------------------------------------


def _landmarks_checked(landmarks, radiograph: Radiograph) -> list[list[float]]:
    """68 finite [x, y] pairs on the film (a small margin allowed: a corner may sit at its edge)."""
    from inference.engine.cobb import NUM_LANDMARKS

    try:
        points = [[float(x), float(y)] for x, y in landmarks]
    except (TypeError, ValueError) as exc:
        raise ValidationError({"landmarks": "Give 68 [x, y] pairs of numbers."}) from exc
    if len(points) != NUM_LANDMARKS:
        raise ValidationError({"landmarks": f"Give {NUM_LANDMARKS} [x, y] pairs, not {len(points)}."})
    margin = 0.05 * max(radiograph.width, radiograph.height)
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValidationError({"landmarks": "Landmarks must be finite numbers."})
        if not (-margin <= x <= radiograph.width + margin and -margin <= y <= radiograph.height + margin):
            raise ValidationError({"landmarks": "A landmark lies outside the film."})
    return points


def measurement_correction_submit(
    *,
    radiograph: Radiograph,
    reviewer,
    landmarks: list | None = None,
    upper_end: str = "",
    lower_end: str = "",
    comment: str = "",
) -> MeasurementCorrection:
    """A reviewer's correction of the film's Cobb measurement, stored with who and when.

    1. Reviewers only, and only once the model's answer is theirs to see (blind reading: after
       their own read is saved); the caller has checked they may see the radiograph.
    2. Landmarks default to this reviewer's last correction's, else the model's measurement's
       (never another reviewer's): choosing other end vertebrae alone is a correction too.
    3. The angles are the server's: the engine's three Cobb angles from the landmarks, and the
       curve between the chosen end vertebrae (or, with none chosen, the largest curve).
    """
    from cases.access import model_answer_hidden
    from inference.engine.cobb import cobb_angles, curve_between, severity_band

    if not user_is_reviewer(reviewer):
        raise PermissionDenied("Only reviewers may correct measurements.")
    if model_answer_hidden(user=reviewer, radiograph=radiograph):
        raise PermissionDenied("Save your own read of this film before correcting its measurement.")
    measurement = measurement_latest_for_radiograph(radiograph)
    if landmarks is None:
        landmarks = _starting_landmarks(radiograph, reviewer, measurement)
    points = _landmarks_checked(landmarks, radiograph)
    try:
        angles = cobb_angles(points, image_height=radiograph.height)
        chosen = bool(upper_end or lower_end)
        curve = curve_between(points, upper_end, lower_end) if chosen else angles.largest
    except ValueError as exc:
        raise ValidationError({"landmarks": str(exc)}) from exc
    return MeasurementCorrection.objects.create(
        radiograph=radiograph, measurement=measurement, reviewer=reviewer, landmarks=points,
        upper_end=curve.upper, lower_end=curve.lower, ends_chosen=chosen, apex=curve.apex,
        largest_angle=curve.angle, cobb_pt=angles.pt, cobb_mt=angles.mt, cobb_tl=angles.tl,
        curve_type=angles.curve_type, severity=severity_band(curve.angle), comment=(comment or "").strip(),
    )


def _starting_landmarks(radiograph: Radiograph, reviewer, measurement) -> list:
    # The reviewer's own last correction, else the model's: never another reviewer's.
    latest = measurement_correction_latest(radiograph=radiograph, reviewer=reviewer)
    if latest is not None:
        return latest.landmarks
    if measurement is not None and measurement.landmarks:
        return measurement.landmarks
    raise ValidationError({"landmarks": "The film has no measured landmarks to start from; place all 68."})
