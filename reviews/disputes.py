"""Reads of adjudication: the films whose reads disagree, with the reads side by side.

A dispute is shown as a film, never as a patient: no case, reference, sex, birth year, notes or
owner reaches this page, so opening it to senior reviewers keeps the rule that reviewers read
films, not patients (and an admin settling a label has no need of the patient either).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cases.models import Radiograph
from cases.selectors import radiograph_list_for_user
from reviews.film_states import FilmState, film_states_for_radiographs
from reviews.models import Review
from reviews.selectors import label_choices_for_radiograph
from scoliosis_portal.roles import user_is_admin, user_may_adjudicate


@dataclass
class Dispute:
    state: FilmState
    reads: list[Review]
    choices: list[str]
    # A senior reviewer who read the film is a party to the dispute and may not settle it.
    may_settle: bool


def disputed_radiographs_for_user(*, user) -> QuerySet[Radiograph]:
    """Unconfirmed films with reads that disagree, oldest first; empty for anyone who may not
    adjudicate. Visibility of the films themselves stays with `radiograph_list_for_user`."""
    if not user_may_adjudicate(user):
        return Radiograph.objects.none()
    distinct_labels = (
        Review.objects.filter(radiograph=OuterRef("pk"))
        .order_by()
        .values("radiograph")
        .annotate(n=Count("label", distinct=True))
        .values("n")
    )
    return (
        radiograph_list_for_user(user=user)
        .filter(confirmed_label="")
        .annotate(
            distinct_read_labels=Coalesce(Subquery(distinct_labels, output_field=IntegerField()), 0)
        )
        .filter(distinct_read_labels__gt=1)
        .order_by("uploaded_at", "id")
    )


def dispute_list_for_user(*, user, radiographs=None) -> list[Dispute]:
    """The disputes on one page, each with every read (the adjudicator must see them all)."""
    radiographs = list(radiographs if radiographs is not None else disputed_radiographs_for_user(user=user))
    reads: dict[int, list[Review]] = {r.pk: [] for r in radiographs}
    for review in (
        Review.objects.filter(radiograph__in=radiographs)
        .select_related("reviewer")
        .order_by("created_at", "id")
    ):
        reads[review.radiograph_id].append(review)
    admin = user_is_admin(user)
    return [
        Dispute(
            state=state,
            reads=reads[state.radiograph.pk],
            choices=label_choices_for_radiograph(state.radiograph),
            may_settle=admin or all(r.reviewer_id != user.pk for r in reads[state.radiograph.pk]),
        )
        for state in film_states_for_radiographs(
            user=user,
            radiographs=Radiograph.objects.filter(pk__in=list(reads)).order_by("uploaded_at", "id"),
            with_reads=False,
        )
    ]
