"""Reads of every film's state as the clinician sees it: the one place that turns a film's
prediction, reads and confirmed label into a badge (pending, model answer, outlier, confirmed,
corrected, disputed). The case list, the case page, its live status endpoint and the printed
report all use it, so they can never disagree.

Who may see which case and radiograph is decided by `cases.selectors`; which reads a user sees
by `reviews.selectors.reviews_visible_for_radiograph`. Nothing here widens either.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from cases.models import Case, Radiograph
from cases.selectors import radiograph_list_for_user
from inference.models import Prediction, PredictionStatus
from inference.selectors import confidence_in_words
from reviews.models import Review
from reviews.selectors import reviews_visible_for_radiograph


class FilmStateKind(models.TextChoices):
    PENDING = "pending", "Pending"
    FAILED = "failed", "Model could not read it"
    MODEL_ANSWER = "model_answer", "Model answer"
    OUTLIER = "outlier", "Outlier"
    CONFIRMED = "confirmed", "Confirmed"
    CORRECTED = "corrected", "Corrected"
    DISPUTED = "disputed", "Disputed"


@dataclass
class FilmState:
    radiograph: Radiograph
    number: int
    kind: FilmStateKind
    prediction_status: str | None = None
    model_label: str | None = None
    confidence: float | None = None
    out_of_distribution: bool = False
    model_version: str | None = None
    reader_label: str | None = None
    adjudicated: bool = False
    distinct_read_labels: int = 0
    read_count: int = 0
    # Only the reads this user may see (no reader identity), loaded on request.
    visible_read_labels: list[str] = field(default_factory=list)

    @property
    def badge(self) -> str:
        """The badge's words: the state and, where there is one, the label it stands for."""
        if self.kind == FilmStateKind.PENDING:
            return "Pending: the model is reading"
        if self.kind == FilmStateKind.MODEL_ANSWER:
            return f"Model answer: {self.model_label}"
        if self.kind == FilmStateKind.OUTLIER:
            return "Outlier: no class given"
        if self.kind == FilmStateKind.CONFIRMED:
            return f"Confirmed: {self.reader_label}"
        if self.kind == FilmStateKind.CORRECTED:
            return f"Corrected: {self.reader_label}"
        if self.kind == FilmStateKind.DISPUTED:
            return "Disputed: readers disagree"
        return str(self.kind.label)

    @property
    def model_answer_words(self) -> str:
        """The model's answer in words, as printed beside a reader's label."""
        if self.prediction_status in (None, PredictionStatus.QUEUED, PredictionStatus.RUNNING):
            return "not read yet"
        if self.prediction_status == PredictionStatus.FAILED:
            return "could not read it"
        if self.out_of_distribution:
            return "outlier: unlike the films it was trained on, no class given"
        return f"{self.model_label} ({self.confidence_percent} %)"

    @property
    def confidence_percent(self) -> str:
        return f"{self.confidence * 100:.1f}" if self.confidence is not None else ""

    @property
    def confidence_words(self) -> str:
        return confidence_in_words(self.confidence) if self.model_label else ""

    @property
    def detail(self) -> str:
        """One line under the badge. A correction shows the model's answer beside the read."""
        if self.kind == FilmStateKind.CORRECTED:
            by = "adjudicated" if self.adjudicated else "reader"
            return f"{by}: {self.reader_label} · model: {self.model_answer_words}"
        if self.kind == FilmStateKind.CONFIRMED:
            if self.model_label != self.reader_label:  # the model gave no class
                by = "adjudicated" if self.adjudicated else "reader"
                return f"{by}: {self.reader_label} · model: {self.model_answer_words}"
            by = "adjudicated, as the model said" if self.adjudicated else "a reader agreed with the model"
            return f"{by} · model {self.model_version}"
        if self.kind == FilmStateKind.DISPUTED:
            reads = ", ".join(self.visible_read_labels)
            tail = f"reads: {reads} · " if reads else ""
            return f"{tail}model: {self.model_answer_words}; awaiting adjudication"
        if self.kind in (FilmStateKind.MODEL_ANSWER, FilmStateKind.OUTLIER):
            waiting = f"{self.read_count} read(s), not yet confirmed" if self.read_count else "not yet read"
            return f"{waiting} · model {self.model_version}"
        if self.kind == FilmStateKind.FAILED:
            return "A reader will read this film without the model."
        return "The answer appears here when the model has read the film."

    def as_json(self) -> dict:
        return {
            "id": self.radiograph.pk,
            "number": self.number,
            "state": str(self.kind),
            "state_display": str(self.kind.label),
            "badge": self.badge,
            "detail": self.detail,
            "prediction_status": self.prediction_status,
            "model_label": self.model_label,
            "confidence": self.confidence,
            "out_of_distribution": self.out_of_distribution,
            "model_version": self.model_version,
            "reader_label": self.reader_label,
            "adjudicated": self.adjudicated,
            "read_count": self.read_count,
            "url": reverse("cases:radiograph_detail", args=[self.radiograph.pk]),
        }


def _film_kind(*, radiograph: Radiograph, distinct_read_labels: int) -> FilmStateKind:
    """1. A confirmed label wins: corrected when the model gave another class, confirmed when it
       is the model's answer or the model gave none (an outlier, a film it could not read).
    2. Reads that disagree and no confirmed label: disputed, until an adjudicator settles it.
    3. Otherwise the model's state (latest prediction, annotated as `p_*`): pending, failed,
       outlier, or its answer."""
    status = radiograph.p_status
    model_answer = None
    if status == PredictionStatus.SUCCEEDED and not radiograph.p_ood:
        model_answer = radiograph.p_label
    if radiograph.confirmed_label:
        if model_answer and radiograph.confirmed_label != model_answer:
            return FilmStateKind.CORRECTED
        # The model's own answer, or a label where the model gave none (outlier, failed).
        return FilmStateKind.CONFIRMED
    if distinct_read_labels > 1:
        return FilmStateKind.DISPUTED
    if status is None or status in (PredictionStatus.QUEUED, PredictionStatus.RUNNING):
        return FilmStateKind.PENDING
    if status == PredictionStatus.FAILED:
        return FilmStateKind.FAILED
    if radiograph.p_ood:
        return FilmStateKind.OUTLIER
    return FilmStateKind.MODEL_ANSWER


def _latest(field: str):
    return Subquery(
        Prediction.objects.filter(radiograph=OuterRef("pk")).order_by("-created_at", "-id").values(field)[:1]
    )


def _with_reads_and_prediction(radiographs: QuerySet[Radiograph]) -> QuerySet[Radiograph]:
    """One query for a page of films, whatever its length: the latest prediction's fields and
    the read counts come as subqueries. Counts only: that readers disagree is shown to everyone
    who sees the film (the review queue shows it too); who read what is not."""
    reads = Review.objects.filter(radiograph=OuterRef("pk")).order_by().values("radiograph")
    return radiographs.annotate(
        p_status=_latest("status"),
        p_label=_latest("label"),
        p_confidence=_latest("confidence"),
        p_ood=_latest("out_of_distribution"),
        p_version=_latest("model_version__name"),
        read_count=Coalesce(Subquery(reads.annotate(n=Count("*")).values("n"), output_field=IntegerField()), 0),
        distinct_read_labels=Coalesce(
            Subquery(reads.annotate(n=Count("label", distinct=True)).values("n"), output_field=IntegerField()), 0
        ),
    )


def film_states_for_radiographs(
    *, user, radiographs: QuerySet[Radiograph], with_reads: bool = True
) -> list[FilmState]:
    """The state of each radiograph, in the queryset's order, numbered within its case. The
    caller passes radiographs the user may see (from `radiograph_list_for_user`)."""
    numbers: dict[int, int] = {}
    states = []
    for radiograph in _with_reads_and_prediction(radiographs):
        numbers[radiograph.case_id] = numbers.get(radiograph.case_id, 0) + 1
        succeeded = radiograph.p_status == PredictionStatus.SUCCEEDED
        outlier = bool(succeeded and radiograph.p_ood)
        state = FilmState(
            radiograph=radiograph,
            number=numbers[radiograph.case_id],
            kind=_film_kind(radiograph=radiograph, distinct_read_labels=radiograph.distinct_read_labels),
            prediction_status=radiograph.p_status,
            model_label=(radiograph.p_label or None) if succeeded and not outlier else None,
            confidence=radiograph.p_confidence if succeeded else None,
            out_of_distribution=outlier,
            model_version=radiograph.p_version,
            reader_label=radiograph.confirmed_label or None,
            adjudicated=bool(radiograph.adjudicated_by_id),
            distinct_read_labels=radiograph.distinct_read_labels,
            read_count=radiograph.read_count,
        )
        if with_reads and radiograph.read_count:
            state.visible_read_labels = [
                review.label
                for review in reviews_visible_for_radiograph(radiograph=radiograph, user=user)
            ]
        states.append(state)
    return states


def film_states_for_case(*, user, case: Case) -> list[FilmState]:
    """Every film of a case the caller let the user see, oldest first."""
    radiographs = radiograph_list_for_user(user=user, case_id=case.pk)
    return film_states_for_radiographs(user=user, radiographs=radiographs)


def film_states_for_cases(*, user, cases: Iterable[Case]) -> dict[int, list[FilmState]]:
    """Badges for a page of the case list (no per-read detail: one query for all reads)."""
    case_ids = [c.pk for c in cases]
    radiographs = radiograph_list_for_user(user=user).filter(case_id__in=case_ids)
    by_case: dict[int, list[FilmState]] = {pk: [] for pk in case_ids}
    for state in film_states_for_radiographs(user=user, radiographs=radiographs, with_reads=False):
        by_case[state.radiograph.case_id].append(state)
    return by_case


def case_status_payload(*, user, case: Case) -> dict:
    """The case page's live status: the case's status and each film's state."""
    films = film_states_for_case(user=user, case=case)
    return {
        "case": {"id": case.pk, "status": case.status, "status_display": case.get_status_display()},
        "films": [film.as_json() for film in films],
        # The page polls faster while the model still has work; a person's read can come later.
        "model_busy": any(f.kind == FilmStateKind.PENDING for f in films),
    }
