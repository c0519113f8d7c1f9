"""Reads of the inference app. Who may see a prediction is who may see its radiograph, which
cases.selectors decides, and whose model answer blind reading does not hide from them, which
cases.access decides; nothing here widens that."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse

from cases.access import radiographs_with_answer_visible
from cases.models import Radiograph
from cases.selectors import radiograph_list_for_user
from inference.models import Measurement, Prediction, PredictionStatus, SeverityBand


def prediction_latest_for_radiograph(radiograph: Radiograph) -> Prediction | None:
    """The newest prediction of the radiograph (after a model change an admin may re-read it;
    the new prediction then stands beside the old one and is the one shown)."""
    return (
        Prediction.objects.filter(radiograph=radiograph)
        .select_related("model_version")
        .order_by("-created_at", "-id")
        .first()
    )


def prediction_list_for_user(*, user) -> QuerySet[Prediction]:
    visible = radiographs_with_answer_visible(
        user=user, radiographs=radiograph_list_for_user(user=user)
    ).order_by().values("pk")
    return Prediction.objects.filter(radiograph__in=visible).select_related(
        "model_version", "radiograph"
    )


def prediction_get_for_user(*, user, prediction_id: int) -> Prediction:
    """The prediction, if the user may see its radiograph; Http404 otherwise."""
    try:
        return prediction_list_for_user(user=user).get(pk=prediction_id)
    except (Prediction.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such prediction.") from exc


def gradcam_path(prediction: Prediction) -> str | None:
    if prediction.status != PredictionStatus.SUCCEEDED or not prediction.gradcam:
        return None
    return reverse("inference_api:prediction_gradcam", args=[prediction.pk])


def radiographs_awaiting_model(radiograph_ids: Iterable[int]) -> set[int]:
    """The radiographs whose latest prediction is missing, queued or running (registered in
    cases.hooks: a case waits for the model while one of its radiographs does)."""
    latest_status = Subquery(
        Prediction.objects.filter(radiograph=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("status")[:1]
    )
    rows = Radiograph.objects.filter(pk__in=list(radiograph_ids)).annotate(latest=latest_status)
    waiting = {None, PredictionStatus.QUEUED, PredictionStatus.RUNNING}
    return {pk for pk, latest in rows.values_list("pk", "latest") if latest in waiting}


def confidence_in_words(confidence: float | None) -> str:
    """Calibrated confidence as a natural frequency, which readers interpret better than a
    bare percentage, plus a plain band."""
    if confidence is None:
        return ""
    in_ten = max(1, min(10, round(confidence * 10)))
    if confidence >= 0.9:
        band = "High confidence"
    elif confidence >= 0.7:
        band = "Moderate confidence"
    else:
        band = "Low confidence: treat this answer as uncertain"
    return f"{band}. Of 10 radiographs given this answer, about {in_ten} would truly have it."


def prediction_panel_context(*, radiograph: Radiograph, prediction: Prediction | None) -> dict:
    """Everything the prediction panel template needs (shared by the radiograph and review
    pages)."""
    labels = list(prediction.model_version.labels) if prediction else []
    probabilities = []
    if prediction and prediction.status == PredictionStatus.SUCCEEDED:
        probabilities = sorted(
            ((label, prediction.probabilities.get(label, 0.0)) for label in labels),
            key=lambda item: -item[1],
        )
    finished = prediction is not None and prediction.is_finished
    return {
        "radiograph": radiograph,
        "prediction": prediction,
        "finished": finished,
        "probabilities": [
            {"label": label, "percent": round(p * 100, 1)} for label, p in probabilities
        ],
        "confidence_words": confidence_in_words(prediction.confidence) if prediction else "",
        "image_url": reverse("cases_api:radiograph_image", args=[radiograph.pk]),
        "gradcam_url": gradcam_path(prediction) if prediction else None,
        "panel_url": reverse("inference:prediction_panel", args=[radiograph.pk]),
    }


# --- measurements -----------------------------------------------------------------------------


def measurement_latest_for_radiograph(radiograph: Radiograph) -> Measurement | None:
    """The newest Cobb measurement of the radiograph (one per landmark model version)."""
    return (
        Measurement.objects.filter(radiograph=radiograph)
        .select_related("model_version")
        .order_by("-created_at", "-id")
        .first()
    )


def measurement_list_for_user(*, user) -> QuerySet[Measurement]:
    """Measurements are the model's answer too: the same radiograph access and blind-reading
    rule as predictions."""
    visible = radiographs_with_answer_visible(
        user=user, radiographs=radiograph_list_for_user(user=user)
    ).order_by().values("pk")
    return Measurement.objects.filter(radiograph__in=visible).select_related("model_version", "radiograph")


def measurement_get_for_user(*, user, measurement_id: int) -> Measurement:
    try:
        return measurement_list_for_user(user=user).get(pk=measurement_id)
    except (Measurement.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such measurement.") from exc


def measurement_overlay_path(measurement: Measurement) -> str | None:
    if measurement.status != PredictionStatus.SUCCEEDED or not measurement.overlay:
        return None
    return reverse("inference_api:measurement_overlay", args=[measurement.pk])


def severity_in_words(severity: str) -> str:
    return SeverityBand(severity).label if severity in SeverityBand.values else ""


def measurement_summary(measurement: Measurement | None) -> str:
    """One line for a person: "Cobb 23.4° T6–T11, apex T9, C-curve: mild (watch)", or why not."""
    if measurement is None:
        return ""
    if measurement.status in (PredictionStatus.QUEUED, PredictionStatus.RUNNING):
        return "Measuring the spine\u2026"
    if measurement.status == PredictionStatus.FAILED:
        return "Cobb angle: measurement failed"
    if measurement.not_measured:
        return f"Cobb angle not measured: {measurement.not_measured}"
    return (
        f"Cobb {measurement.largest_angle:.1f}\u00b0 {measurement.largest_upper}\u2013"
        f"{measurement.largest_lower}, apex {measurement.largest_apex}, "
        f"{measurement.curve_type}-curve: {severity_in_words(measurement.severity)}"
    )
