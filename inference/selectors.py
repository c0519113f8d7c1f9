"""Reads of the inference app. Who may see a prediction is who may see its radiograph, which
cases.selectors decides, and whose model answer blind reading does not hide from them, which
cases.access decides; nothing here widens that."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse

from cases import hooks
from cases.access import model_answer_hidden, radiographs_with_answer_visible
from cases.models import Radiograph
from cases.selectors import radiograph_list_for_user
from inference.models import Measurement, Prediction, PredictionStatus, SeverityBand

# Predictions and measurements are both the model's answer on a radiograph, read by the same rules.


def _latest_for_radiograph(model, radiograph: Radiograph):
    return (
        model.objects.filter(radiograph=radiograph)
        .select_related("model_version")
        .order_by("-created_at", "-id")
        .first()
    )


def _answers_for_user(model, *, user) -> QuerySet:
    """Rows of `model` on radiographs the user may see and whose model answer blind reading does
    not hide from them."""
    visible = radiographs_with_answer_visible(
        user=user, radiographs=radiograph_list_for_user(user=user)
    ).order_by().values("pk")
    return model.objects.filter(radiograph__in=visible).select_related("model_version", "radiograph")


def _answer_get(rows: QuerySet, row_id: int, what: str):
    try:
        return rows.get(pk=row_id)
    except (rows.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No such {what}.") from exc


def _stored_png_path(row, field, url_name: str) -> str | None:
    """The API path of a finished answer's stored image (None until it succeeded with one)."""
    if row.status != PredictionStatus.SUCCEEDED or not field:
        return None
    return reverse(url_name, args=[row.pk])


def prediction_latest_for_radiograph(radiograph: Radiograph) -> Prediction | None:
    """The newest prediction of the radiograph (after a model change an admin may re-read it;
    the new prediction then stands beside the old one and is the one shown)."""
    return _latest_for_radiograph(Prediction, radiograph)


def prediction_list_for_user(*, user) -> QuerySet[Prediction]:
    return _answers_for_user(Prediction, user=user)


def prediction_get_for_user(*, user, prediction_id: int) -> Prediction:
    """The prediction, if the user may see its radiograph; Http404 otherwise."""
    return _answer_get(prediction_list_for_user(user=user), prediction_id, "prediction")


def gradcam_path(prediction: Prediction) -> str | None:
    return _stored_png_path(prediction, prediction.gradcam, "inference_api:prediction_gradcam")


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


def prediction_panel_context(*, radiograph: Radiograph, prediction: Prediction | None, user=None) -> dict:
    """Everything the prediction panel template needs (shared by the radiograph and review
    pages). With `user`, the Cobb layer draws the latest correction of the film that user may see
    (else the model's measurement); without, the model's: the reading page, where the reviewer's
    own edit layer lies over it, and the panel it polls keeps it so (`cobb=model`)."""
    labels = list(prediction.model_version.labels) if prediction else []
    probabilities = []
    if prediction and prediction.status == PredictionStatus.SUCCEEDED:
        probabilities = sorted(
            ((label, prediction.probabilities.get(label, 0.0)) for label in labels),
            key=lambda item: -item[1],
        )
    measurement = measurement_latest_for_radiograph(radiograph)
    correction = None if user is None else measurement_correction_for_user(radiograph=radiograph, user=user)
    # The panel keeps polling until both parts are done: the measurement is chained after the
    # prediction, so it arrives a moment later.
    finished = prediction is not None and prediction.is_finished and (
        measurement is None or measurement.is_finished
    )
    return {
        "radiograph": radiograph,
        "prediction": prediction,
        "finished": finished,
        **measurement_panel_context(measurement=measurement, prediction=prediction, correction=correction),
        "cobb_layer_id": f"cobb-layer-{radiograph.pk}",
        "probabilities": [
            {"label": label, "percent": round(p * 100, 1)} for label, p in probabilities
        ],
        "confidence_words": confidence_in_words(prediction.confidence) if prediction else "",
        "image_url": reverse("cases_api:radiograph_image", args=[radiograph.pk]),
        "gradcam_url": gradcam_path(prediction) if prediction else None,
        "panel_url": reverse("inference:prediction_panel", args=[radiograph.pk])
        + ("?fragment=1" if user is not None else "?fragment=1&cobb=model"),
    }


# --- measurements -----------------------------------------------------------------------------


def measurement_latest_for_radiograph(radiograph: Radiograph) -> Measurement | None:
    """The newest Cobb measurement of the radiograph (one per landmark model version)."""
    return _latest_for_radiograph(Measurement, radiograph)


def measurement_list_for_user(*, user) -> QuerySet[Measurement]:
    """Measurements are the model's answer too: the same radiograph access and blind-reading
    rule as predictions."""
    return _answers_for_user(Measurement, user=user)


def measurement_get_for_user(*, user, measurement_id: int) -> Measurement:
    return _answer_get(measurement_list_for_user(user=user), measurement_id, "measurement")


def measurement_overlay_path(measurement: Measurement) -> str | None:
    return _stored_png_path(measurement, measurement.overlay, "inference_api:measurement_overlay")


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


# --- the measurement on the radiograph page ---------------------------------------------------

OUTLINE_COLOUR = "#50c8ff"
ENDPLATE_COLOUR = "#ffaa00"


def _endplate(corners: list, upper: bool, extend: float = 0.8) -> list[list[float]]:
    """The upper (TL-TR) or lower (BL-BR) endplate, extended sideways so the angle reads."""
    (ax, ay), (bx, by) = (corners[0], corners[1]) if upper else (corners[2], corners[3])
    dx, dy = bx - ax, by - ay
    return [[ax - dx * extend, ay - dy * extend], [bx + dx * extend, by + dy * extend]]


def cobb_shapes(*, landmarks: list, upper: str, lower: str, apex: str, caption: str) -> list[dict]:
    """The film viewer's "Cobb" vector layer (static/viewer/viewer.js shapes, in the stored
    image's pixels, so it stays on the anatomy at every zoom): the 17 vertebra outlines, the
    endplate lines of the curve's end vertebrae, their names, and `caption` beside the apex."""
    from inference.engine.cobb import VERTEBRAE  # plain Python: no torch

    vertebrae = [landmarks[4 * i: 4 * i + 4] for i in range(len(VERTEBRAE))]
    shapes: list[dict] = [
        {"type": "polyline", "points": [v[0], v[1], v[3], v[2]], "closed": True,
         "color": OUTLINE_COLOUR, "width": 1.5}
        for v in vertebrae
    ]
    top = _endplate(vertebrae[VERTEBRAE.index(upper)], upper=True)
    bottom = _endplate(vertebrae[VERTEBRAE.index(lower)], upper=False)
    middle = vertebrae[VERTEBRAE.index(apex)]
    shapes += [
        {"type": "polyline", "points": top, "color": ENDPLATE_COLOUR, "width": 3},
        {"type": "polyline", "points": bottom, "color": ENDPLATE_COLOUR, "width": 3},
        {"type": "text", "x": top[1][0], "y": top[1][1], "text": upper, "color": ENDPLATE_COLOUR, "size": 13},
        {"type": "text", "x": bottom[1][0], "y": bottom[1][1], "text": lower, "color": ENDPLATE_COLOUR, "size": 13},
        {"type": "text", "x": max(p[0] for p in middle) + 10, "y": sum(p[1] for p in middle) / 4,
         "text": caption, "color": "#ffffff", "size": 15},
    ]
    return shapes


def cobb_layer_shapes(measurement: Measurement | None) -> list[dict] | None:
    """The model's measurement as the Cobb layer (`cobb_shapes`); None when the film was not
    measured."""
    if measurement is None or not measurement.measured or not measurement.landmarks:
        return None
    return cobb_shapes(landmarks=measurement.landmarks, upper=measurement.largest_upper,
                       lower=measurement.largest_lower, apex=measurement.largest_apex,
                       caption=f"Cobb {measurement.largest_angle:.1f}\u00b0")


def cobb_layer_shapes_corrected(correction: dict) -> list[dict]:
    """A reviewer's correction (the payload of cases.hooks.radiograph_measurement_correction_payload)
    as the Cobb layer: its landmarks, end vertebrae and angle, captioned as corrected."""
    largest = correction["largest"]
    return cobb_shapes(landmarks=correction["landmarks"], upper=largest["upper"], lower=largest["lower"],
                       apex=largest["apex"], caption=f"Cobb {largest['angle']:.1f}\u00b0 (corrected)")


def measurement_correction_for_user(*, radiograph: Radiograph, user) -> dict | None:
    """The latest reviewer's correction of the film's Cobb measurement that `user` may see: the
    reviews app decides whose (registered in cases.hooks: reviewers see their own only), and
    nobody sees one while blind reading hides the model's measurement from them."""
    if model_answer_hidden(user=user, radiograph=radiograph):
        return None
    return hooks.radiograph_measurement_correction_payload(radiograph=radiograph, user=user)


def class_and_angle_disagree(*, prediction: Prediction | None, measurement: Measurement | None) -> str:
    """On a measured film a largest angle of 10 deg or more is scoliosis evidence; the words
    for a class that says otherwise ("" when they agree or either is missing)."""
    if prediction is None or prediction.status != PredictionStatus.SUCCEEDED or prediction.out_of_distribution:
        return ""
    evidence = measurement.scoliosis_evidence if measurement is not None else None
    if evidence is True and prediction.label == "normal":
        return "The class is normal but the measured Cobb angle is 10\u00b0 or more: a reviewer will look first."
    if evidence is False and prediction.label == "scoliosis":
        return "The class is scoliosis but the measured Cobb angle is under 10\u00b0: a reviewer will look first."
    return ""


def measurement_panel_context(*, measurement: Measurement | None, prediction: Prediction | None,
                              correction: dict | None = None) -> dict:
    """The measurement's part of the panel. The Cobb layer draws `correction` (a reviewer's, which
    the case then shows) when given, else the model's measurement."""
    return {
        "measurement": measurement,
        "measurement_severity": severity_in_words(measurement.severity) if measurement else "",
        "cobb_layer": cobb_layer_shapes_corrected(correction) if correction else cobb_layer_shapes(measurement),
        "cobb_layer_label": "Cobb (corrected)" if correction else "Cobb",
        "cobb_correction": correction,
        "cobb_conflict": class_and_angle_disagree(prediction=prediction, measurement=measurement),
        "overlay_url": measurement_overlay_path(measurement) if measurement else None,
    }
