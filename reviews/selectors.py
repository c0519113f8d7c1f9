"""Reads of review: the queue, the label choices, who sees which reads, agreement figures."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import combinations

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    FloatField,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from cases.models import UNGRADABLE, Radiograph
from inference.models import SCOLIOSIS_MIN_ANGLE_DEG, Measurement, Prediction, PredictionStatus
from registry.models import ModelVersion
from registry.selectors import model_version_get_active
from reviews.models import MeasurementCorrection, Review
from scoliosis_portal.roles import user_is_admin, user_is_reviewer


def label_choices_for_radiograph(radiograph: Radiograph) -> list[str]:
    """The label set of the model version that read the radiograph (else the active one), plus
    ungradable. Never hard-coded: a later model may add a class."""
    prediction = (
        Prediction.objects.filter(radiograph=radiograph)
        .select_related("model_version")
        .order_by("-created_at", "-id")
        .first()
    )
    version = prediction.model_version if prediction else model_version_get_active()
    labels = list(version.labels) if version else []
    return [*labels, UNGRADABLE]


def _latest(field: str):
    return Subquery(
        Prediction.objects.filter(radiograph=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(field)[:1]
    )


def _latest_measured(field: str):
    """`field` of the radiograph's latest measurement that measured an angle (None if none)."""
    return Subquery(
        Measurement.objects.filter(
            radiograph=OuterRef("pk"), status=PredictionStatus.SUCCEEDED, not_measured="",
            largest_angle__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values(field)[:1]
    )


class CobbDisagreement:
    """Why a film's class and its measured Cobb angle disagree (keys of the queue's annotation)."""

    NORMAL_WITH_CURVE = "normal_with_curve"
    SCOLIOSIS_WITHOUT_CURVE = "scoliosis_without_curve"


def _cobb_disagreement() -> Case:
    """On a measured (AP) film a largest angle of 10 deg or more is scoliosis evidence: a class
    of normal with such an angle, or scoliosis with a smaller one, disagrees."""
    answered = {"prediction_status": PredictionStatus.SUCCEEDED, "prediction_ood": False}
    return Case(
        When(predicted_label="normal", cobb_angle__gte=SCOLIOSIS_MIN_ANGLE_DEG, **answered,
             then=Value(CobbDisagreement.NORMAL_WITH_CURVE)),
        When(predicted_label="scoliosis", cobb_angle__lt=SCOLIOSIS_MIN_ANGLE_DEG, **answered,
             then=Value(CobbDisagreement.SCOLIOSIS_WITHOUT_CURVE)),
        default=Value(""),
        output_field=CharField(),
    )


def cobb_disagreement_reason(item: Radiograph, *, blind: bool) -> str:
    """The queue row's reason for a class/angle disagreement ("" if none). Under blind reading
    it names the conflict without the model's class or angle."""
    key = getattr(item, "cobb_disagreement", "")
    if not key:
        return ""
    if blind:
        return "the model's class and its measured Cobb angle disagree"
    angle = f"{item.cobb_angle:.1f}\u00b0"
    if key == CobbDisagreement.NORMAL_WITH_CURVE:
        return f"class normal but Cobb angle {angle} (10\u00b0 or more is scoliosis)"
    return f"class scoliosis but Cobb angle only {angle} (under 10\u00b0)"


def _review_counts(*, user) -> dict:
    """Annotations of the reads: whether this user read the film, how many reads, how many
    distinct labels among them."""
    per_radiograph = Review.objects.filter(radiograph=OuterRef("pk")).order_by().values("radiograph")
    return {
        "read_by_me": Exists(Review.objects.filter(radiograph=OuterRef("pk"), reviewer=user)),
        "read_count": Coalesce(
            Subquery(per_radiograph.annotate(n=Count("*")).values("n"), output_field=IntegerField()),
            0,
        ),
        "distinct_read_labels": Coalesce(
            Subquery(
                per_radiograph.annotate(n=Count("label", distinct=True)).values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
    }


def _queue_ranking() -> dict:
    """Annotations that rank the queue: failed reads, then out-of-distribution flags, then
    readers' disagreement; the model's confidence; a class that disagrees with the Cobb angle."""
    return {
        "disagreement": Case(
            When(distinct_read_labels__gt=1, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        "priority": Case(
            When(prediction_status=PredictionStatus.FAILED, then=Value(3)),
            When(prediction_ood=True, then=Value(2)),
            When(distinct_read_labels__gt=1, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "uncertainty": Coalesce("prediction_confidence", Value(0.0), output_field=FloatField()),
        "cobb_disagreement": _cobb_disagreement(),
    }


def review_queue_for_user(
    *,
    user,
    predicted_label: str = "",
    min_age_days: int | None = None,
    max_age_days: int | None = None,
) -> QuerySet[Radiograph]:
    """Radiographs with a finished prediction that still need this reviewer's read, most
    uncertain first: a class that disagrees with the measured Cobb angle, then failed reads,
    then out-of-distribution flags, then readers' disagreement, then low confidence; oldest
    first among equals. Empty for anyone but reviewers."""
    if not user_is_reviewer(user):
        return Radiograph.objects.none()
    queue = (
        Radiograph.objects.filter(confirmed_label="", archived_at=None, case__archived_at=None)
        .annotate(
            prediction_status=_latest("status"),
            predicted_label=_latest("label"),
            prediction_confidence=_latest("confidence"),
            prediction_ood=_latest("out_of_distribution"),
            cobb_angle=_latest_measured("largest_angle"),
            **_review_counts(user=user),
        )
        .filter(
            prediction_status__in=[PredictionStatus.SUCCEEDED, PredictionStatus.FAILED],
            read_by_me=False,
        )
        .annotate(**_queue_ranking())
        .annotate(
            cobb_conflict=Case(
                When(cobb_disagreement="", then=Value(0)), default=Value(1), output_field=IntegerField()
            ),
        )
    )
    if predicted_label:
        queue = queue.filter(predicted_label=predicted_label)
    now = timezone.now()
    if min_age_days is not None:
        queue = queue.filter(uploaded_at__lte=now - timedelta(days=min_age_days))
    if max_age_days is not None:
        queue = queue.filter(uploaded_at__gte=now - timedelta(days=max_age_days))
    return queue.order_by("-cobb_conflict", "-priority", "uncertainty", "uploaded_at", "id")


def review_queue_next(*, user, after_radiograph_id: int | None = None) -> Radiograph | None:
    queue = review_queue_for_user(user=user)
    if after_radiograph_id is not None:
        queue = queue.exclude(pk=after_radiograph_id)
    return queue.first()


def review_get_for_reviewer(*, radiograph: Radiograph, reviewer) -> Review | None:
    return Review.objects.filter(radiograph=radiograph, reviewer=reviewer).first()


def reviews_visible_for_radiograph(*, radiograph: Radiograph, user) -> list[Review]:
    """Reads of a radiograph the user may see (the caller checked the radiograph itself):
    admins all reads; reviewers only their own (others' reads would anchor them); the
    clinician who owns the case all reads, without the reviewer's identity."""
    reads = radiograph.reviews.select_related("reviewer").order_by("created_at", "id")
    if user_is_admin(user):
        return list(reads)
    if user_is_reviewer(user):
        return list(reads.filter(reviewer=user))
    if radiograph.case.owner_id == user.pk:
        return list(reads)
    return []


def review_payload_for_radiograph(*, radiograph: Radiograph, user) -> dict:
    """`confirmed_label` and `reads` for the radiograph API (caller checked visibility)."""
    show_reader = user_is_admin(user) or user_is_reviewer(user)
    reads = [
        {
            "label": r.label,
            "comment": r.comment,
            "blind": r.blind,
            "reviewer": r.reviewer.get_username() if show_reader else None,
            "updated_at": r.updated_at,
        }
        for r in reviews_visible_for_radiograph(radiograph=radiograph, user=user)
    ]
    return {
        "confirmed_label": radiograph.confirmed_label or None,
        "confirmed_at": radiograph.confirmed_at,
        "adjudicated": bool(radiograph.adjudicated_by_id),
        "reads": reads,
    }


# --- agreement ------------------------------------------------------------------------------------


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters over (rater A, rater B) label pairs; None if undefined."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left = Counter(a for a, _ in pairs)
    right = Counter(b for _, b in pairs)
    expected = sum(left[k] * right.get(k, 0) for k in left) / (n * n)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else None
    return (observed - expected) / (1 - expected)


def _latest_predictions(radiographs: QuerySet[Radiograph], model_version: ModelVersion | None) -> list[Prediction]:
    """Each confirmed (gradable) radiograph's latest succeeded prediction, of `model_version` if
    given."""
    predictions = Prediction.objects.filter(
        status=PredictionStatus.SUCCEEDED,
        radiograph__in=radiographs.exclude(confirmed_label="").exclude(confirmed_label=UNGRADABLE),
    ).select_related("radiograph", "model_version")
    if model_version is not None:
        predictions = predictions.filter(model_version=model_version)
    latest: dict[int, Prediction] = {}
    for p in predictions.order_by("created_at", "id"):
        latest[p.radiograph_id] = p
    return list(latest.values())


def _model_vs_confirmed(latest: list[Prediction]) -> dict:
    """Confusion matrix (rows: confirmed label, columns: the model's) and sensitivity per class;
    out-of-distribution answers gave no class and are counted apart."""
    labels: list[str] = []
    for p in latest:
        for label in [*p.model_version.labels, p.radiograph.confirmed_label]:
            if label not in labels:
                labels.append(label)
    matrix = {truth: dict.fromkeys(labels, 0) for truth in labels}
    for p in latest:
        if not p.out_of_distribution:
            matrix[p.radiograph.confirmed_label][p.label] += 1
    sensitivity = {}
    for truth in labels:
        total = sum(matrix[truth].values())
        sensitivity[truth] = matrix[truth][truth] / total if total else None
    compared = sum(sum(row.values()) for row in matrix.values())
    correct = sum(matrix[k][k] for k in labels)
    return {
        "labels": labels,
        "confusion_matrix": matrix,
        "rows": [
            {"truth": t, "cells": [matrix[t][p] for p in labels], "sensitivity": sensitivity[t]}
            for t in labels
        ],
        "sensitivity": sensitivity,
        "compared": compared,
        "accuracy": correct / compared if compared else None,
        "out_of_distribution": sum(p.out_of_distribution for p in latest),
    }


def _reader_vs_reader(radiographs: QuerySet[Radiograph]) -> dict:
    """Cohen's kappa per pair of reviewers, and pooled over every pair of reads of one image."""
    reads_by_radiograph: dict[int, dict[int, str]] = defaultdict(dict)
    names: dict[int, str] = {}
    for radiograph_id, reviewer_id, username, label in Review.objects.filter(
        radiograph__in=radiographs
    ).values_list("radiograph_id", "reviewer_id", "reviewer__username", "label"):
        reads_by_radiograph[radiograph_id][reviewer_id] = label
        names[reviewer_id] = username
    pair_labels: dict[tuple[int, int], list[tuple[str, str]]] = defaultdict(list)
    pooled: list[tuple[str, str]] = []
    for reads in reads_by_radiograph.values():
        for a, b in combinations(sorted(reads), 2):
            pair_labels[(a, b)].append((reads[a], reads[b]))
            pooled.append((reads[a], reads[b]))
    pairs = [
        {"reviewers": [names[a], names[b]], "images": len(items), "kappa": cohen_kappa(items)}
        for (a, b), items in sorted(pair_labels.items())
    ]
    return {"reader_pairs": pairs, "pooled_kappa": cohen_kappa(pooled), "pooled_pairs": len(pooled)}


def agreement_report(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: ModelVersion | None = None,
) -> dict:
    """Model vs confirmed label (confusion matrix, sensitivity per class) and reader vs reader
    (Cohen's kappa per pair of reviewers and pooled over every pair of reads of one image),
    over radiographs uploaded in [since, until) and predictions of `model_version` (default:
    each radiograph's latest succeeded prediction)."""
    radiographs = Radiograph.objects.all()
    if since:
        radiographs = radiographs.filter(uploaded_at__gte=since)
    if until:
        radiographs = radiographs.filter(uploaded_at__lt=until)
    return {
        **_model_vs_confirmed(_latest_predictions(radiographs, model_version)),
        **_reader_vs_reader(radiographs),
    }


# --- measurement corrections ----------------------------------------------------------------------


def measurement_correction_latest(*, radiograph: Radiograph, reviewer=None) -> MeasurementCorrection | None:
    """The film's latest correction (what the case shows), or that reviewer's latest."""
    corrections = radiograph.measurement_corrections.select_related("reviewer")
    if reviewer is not None:
        corrections = corrections.filter(reviewer=reviewer)
    return corrections.order_by("-created_at", "-id").first()


def measurement_corrections_visible_for_radiograph(*, radiograph: Radiograph, user) -> QuerySet:
    """Corrections of a film the user may see, newest first (the caller checked the film itself),
    by the rule of reads: admins all; reviewers their own (another's would anchor them); the
    clinician who owns the case all."""
    corrections = radiograph.measurement_corrections.select_related("reviewer").order_by("-created_at", "-id")
    if user_is_admin(user):
        return corrections
    if user_is_reviewer(user):
        return corrections.filter(reviewer=user)
    if radiograph.case.owner_id == user.pk:
        return corrections
    return corrections.none()


def measurement_correction_payload(*, radiograph: Radiograph, user) -> dict | None:
    """The latest correction this user may see, as the radiograph API shows it, with the number
    of corrections before it (the history); reviewer names as for reads."""
    visible = measurement_corrections_visible_for_radiograph(radiograph=radiograph, user=user)
    latest = visible.first()
    if latest is None:
        return None
    show_reader = user_is_admin(user) or user_is_reviewer(user)
    return {
        "id": latest.pk,
        "largest": {"angle": latest.largest_angle, "upper": latest.upper_end, "lower": latest.lower_end,
                    "apex": latest.apex},
        "cobb": {"pt": latest.cobb_pt, "mt": latest.cobb_mt, "tl": latest.cobb_tl},
        "curve_type": latest.curve_type,
        "severity": latest.severity,
        "ends_chosen": latest.ends_chosen,
        "landmarks": latest.landmarks,
        "measurement": latest.measurement_id,
        "reviewer": latest.reviewer.get_username() if show_reader else None,
        "comment": latest.comment,
        "created_at": latest.created_at,
        "corrections": visible.count(),
    }


def measurement_corrections_latest_per_radiograph() -> list[MeasurementCorrection]:
    """Each corrected film's latest correction, for landmark retraining: films that may carry
    identifying text no admin has cleared stay out, as they do for label retraining."""
    films = Radiograph.objects.free_of_burned_in_text().values("pk")
    corrections = (
        MeasurementCorrection.objects.filter(radiograph__in=films)
        .select_related("radiograph", "radiograph__case")
        .order_by("radiograph_id", "-created_at", "-id")
    )
    latest: dict[int, MeasurementCorrection] = {}
    for correction in corrections.iterator(chunk_size=200):
        latest.setdefault(correction.radiograph_id, correction)
    return list(latest.values())
