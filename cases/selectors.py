"""Reads of the cases app. The one place that decides who sees which case and radiograph.

Cases (the patient: reference, birth year, notes, owner):
- clinician: their own cases;
- admin (or superuser): every case;
- anyone else, reviewers included: none. A reviewer reads films, not patients.

Radiographs (the film):
- clinician: the radiographs of their own cases;
- reviewer: every radiograph, at film level only (`cases.access` keeps the case behind it and,
  under blind reading, the model's answer from them);
- admin: everything;
- anyone else: nothing.
A user holding several roles gets the union, so a clinician who also reviews sees identity on
their own cases only.

Archived cases and radiographs (kept instead of deleted once a label was confirmed) are in no
list. Every page, API endpoint and file download goes through these functions. An object the
user may not see does not exist for them (Http404), so its existence is not revealed.
"""
from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from cases.models import Case, Radiograph
from scoliosis_portal.roles import user_is_admin, user_is_clinician, user_is_reviewer


def case_access_allowed(*, user) -> bool:
    """Whether the user works with cases (patients) at all: clinicians and admins."""
    return user_is_admin(user) or user_is_clinician(user)


def case_list_for_user(
    *,
    user,
    search: str = "",
    sex: str = "",
    status: str = "",
    with_counts: bool = True,
) -> QuerySet[Case]:
    """Cases the user may see, newest first, optionally searched and filtered."""
    if user_is_admin(user):
        cases = Case.objects.all()
    elif user_is_clinician(user):
        cases = Case.objects.filter(owner=user)
    else:
        return Case.objects.none()
    cases = cases.filter(archived_at=None)
    search = (search or "").strip()
    if search:
        cases = cases.filter(Q(patient_reference__icontains=search) | Q(notes__icontains=search))
    if sex:
        cases = cases.filter(sex=sex)
    if status:
        cases = cases.filter(status=status)
    cases = cases.select_related("owner")
    if with_counts:
        # A correlated subquery, not a JOIN + GROUP BY: it runs only for the rows of the page and
        # leaves the paginator's COUNT(*) cheap.
        per_case = (
            Radiograph.objects.filter(case=OuterRef("pk"), archived_at=None)
            .order_by()
            .values("case")
            .annotate(n=Count("*"))
            .values("n")
        )
        cases = cases.annotate(
            radiograph_count=Coalesce(Subquery(per_case, output_field=IntegerField()), 0)
        )
    return cases.order_by("-created_at", "-id")


def case_get_for_user(*, user, case_id: int) -> Case:
    """The case, if the user may see it; Http404 otherwise."""
    try:
        return case_list_for_user(user=user).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such case.") from exc


def radiograph_list_for_user(*, user, case_id: int | None = None) -> QuerySet[Radiograph]:
    """Radiographs the user may reach (film level; see the module docstring), oldest first."""
    if user_is_admin(user) or user_is_reviewer(user):
        radiographs = Radiograph.objects.all()
    elif user_is_clinician(user):
        radiographs = Radiograph.objects.filter(case__owner=user)
    else:
        return Radiograph.objects.none()
    radiographs = radiographs.filter(archived_at=None, case__archived_at=None)
    if case_id is not None:
        radiographs = radiographs.filter(case_id=case_id)
    return radiographs.select_related("case").order_by("uploaded_at", "id")


def radiograph_get_for_user(*, user, radiograph_id: int) -> Radiograph:
    """The radiograph, if the user may see its case; Http404 otherwise."""
    try:
        return radiograph_list_for_user(user=user).get(pk=radiograph_id)
    except (Radiograph.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such radiograph.") from exc


def case_radiograph_get_for_user(*, user, radiograph_id: int) -> Radiograph:
    """The radiograph together with its case (the patient), for pages and files that show them:
    only if the user may see that case (owner or admin); Http404 otherwise, reviewers included."""
    visible_cases = case_list_for_user(user=user, with_counts=False).order_by().values("pk")
    try:
        return (
            radiograph_list_for_user(user=user)
            .filter(case__in=visible_cases)
            .select_related("case__owner")
            .get(pk=radiograph_id)
        )
    except (Radiograph.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such radiograph.") from exc


def radiograph_confirmation_for_user(*, radiograph: Radiograph, user) -> dict | None:
    """The confirmed read of a radiograph the user may already see, and who confirmed it; None
    while unconfirmed. Readers are named to admins and reviewers; the case's clinician learns
    how it was confirmed (agreeing reads, or an admin's adjudication) without the readers'
    identities, as in the radiograph API."""
    if not radiograph.confirmed_label:
        return None
    named = user_is_admin(user) or user_is_reviewer(user)
    if radiograph.adjudicated_by_id:
        adjudicator = radiograph.adjudicated_by.get_username() if named else "an admin"
        by = f"adjudicated by {adjudicator}"
    else:
        readers = [
            review.reviewer.get_username()
            for review in radiograph.reviews.select_related("reviewer").filter(
                label=radiograph.confirmed_label
            )
        ]
        if named:
            by = "read by " + ", ".join(readers)
        else:
            by = f"{len(readers)} agreeing radiologist read{'s' if len(readers) != 1 else ''}"
    return {"label": radiograph.confirmed_label, "at": radiograph.confirmed_at, "by": by}
