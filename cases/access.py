"""What a user may see *of* a radiograph they can reach: the patient behind it, the model's answer.

`cases.selectors` decides which radiographs and cases a user reaches at all. For a reachable
radiograph two finer questions remain, and every page, API view and serializer asks them here:

- Identity. The case behind a film (patient reference, birth year, notes, owner) belongs to the
  clinician who owns the case and to admins. A reviewer reads films, not patients: at most the
  sex and a coarse age band reach them. Holding the clinician role too does not widen that beyond
  the user's own cases.
- The model's answer under blind reading (settings.REVIEW_BLIND_READING, on by default). A
  reviewer does not see the model's label, probabilities or heat-map of a film until their own
  read of it is saved. This is server state (the setting and the reviewer's saved read), never a
  request parameter, so no client can switch it off.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from cases.models import Radiograph
from scoliosis_portal.roles import user_is_admin, user_is_clinician, user_is_reviewer

AGE_BAND_YEARS = 10


def radiograph_identity_visible(*, user, radiograph: Radiograph) -> bool:
    """Whether the user may see the case (the patient) behind this radiograph."""
    if user_is_admin(user):
        return True
    return user_is_clinician(user) and radiograph.case.owner_id == user.pk


def patient_age_band(*, radiograph: Radiograph) -> str | None:
    """The patient's age when the film was taken, as a decade ("10-19"), or None if unknown.
    Coarse on purpose: a reader may need an adolescent from an adult, not a birth year."""
    birth_year = radiograph.case.birth_year
    if birth_year is None or radiograph.uploaded_at is None:
        return None
    age = max(0, radiograph.uploaded_at.year - birth_year)
    low = age - age % AGE_BAND_YEARS
    return f"{low}-{low + AGE_BAND_YEARS - 1}"


def blind_reading_enabled() -> bool:
    return bool(getattr(settings, "REVIEW_BLIND_READING", True))


def blind_reading_applies(*, user) -> bool:
    """Blind reading applies to reviewers; admins oversee the model and see its answers."""
    return blind_reading_enabled() and user_is_reviewer(user) and not user_is_admin(user)


def _own_read_radiograph_ids(user) -> QuerySet:
    # The Review model is reached through the relation so this module does not depend on where
    # the review feature keeps it.
    review_model = Radiograph._meta.get_field("reviews").related_model
    return review_model.objects.filter(reviewer=user).values("radiograph_id")


def model_answer_hidden(*, user, radiograph: Radiograph) -> bool:
    """True while blind reading keeps the model's answer for this film from this user: they read
    blind (see `blind_reading_applies`), the film is not in their own case, and their read of it is not
    saved yet."""
    if not blind_reading_applies(user=user):
        return False
    if user_is_clinician(user) and radiograph.case.owner_id == user.pk:
        return False
    return not radiograph.reviews.filter(reviewer=user).exists()


def radiographs_with_answer_visible(*, user, radiographs: QuerySet) -> QuerySet:
    """`radiographs` narrowed to those whose model answer the user may see (same rule as
    `model_answer_hidden`, as a query, for lists of predictions)."""
    if not blind_reading_applies(user=user):
        return radiographs
    allowed = Q(pk__in=_own_read_radiograph_ids(user))
    if user_is_clinician(user):
        allowed |= Q(case__owner=user)
    return radiographs.filter(allowed)
