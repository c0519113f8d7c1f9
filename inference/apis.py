"""REST API of the inference app: the prediction representation and the Grad-CAM download."""
from __future__ import annotations

import logging
from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from cases.access import model_answer_hidden
from cases.models import Radiograph
from inference.models import Measurement, Prediction
from inference.selectors import (
    gradcam_path,
    measurement_correction_for_user,
    measurement_get_for_user,
    measurement_latest_for_radiograph,
    measurement_overlay_path,
    prediction_get_for_user,
    prediction_latest_for_radiograph,
    severity_in_words,
)
from scoliosis_portal.api import BlankAsNullField, SelectedRowApi

logger = logging.getLogger(__name__)


class PredictionSerializer(serializers.ModelSerializer):
    """What a client sees of a model's answer. Status is one of queued, running, succeeded,
    failed; the answer fields are null until it succeeded."""

    model_version = serializers.SerializerMethodField()
    gradcam_url = serializers.SerializerMethodField()
    label = BlankAsNullField()

    class Meta:
        model = Prediction
        fields = [
            "id", "status", "label", "confidence", "probabilities", "out_of_distribution",
            "ood_score", "model_version", "gradcam_url", "error", "created_at", "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_model_version(self, prediction: Prediction) -> dict:
        version = prediction.model_version
        return {"id": version.pk, "name": version.name, "labels": list(version.labels)}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_gradcam_url(self, prediction: Prediction) -> str | None:
        path = gradcam_path(prediction)
        request = self.context.get("request")
        if path is None or request is None:
            return path
        return request.build_absolute_uri(path)


@extend_schema(responses=PredictionSerializer)
class PredictionDetailApi(SelectedRowApi):
    select = prediction_get_for_user
    serializer_class = PredictionSerializer


def _private_png(field, filename: str):
    """A stored PNG, inline, never cached by a shared cache."""
    from django.http import FileResponse, Http404

    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        logger.error("stored image %s is missing", field.name)
        raise Http404("The image file is missing.") from exc
    response = FileResponse(handle, content_type="image/png", filename=filename)
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _StoredPngApi(APIView):
    # GET the stored image of a model's answer: `select` decides who may see the answer, `path`
    # whether it has the image (404 `missing` otherwise), `field` holds it. (No docstring: the
    # schema would show it for every endpoint built on this.)
    select: Callable
    path: Callable[..., str | None]
    field: str
    filename_prefix: str
    missing: str

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, **url_ids):
        from django.http import Http404

        row = type(self).select(user=request.user, **url_ids)
        if type(self).path(row) is None:
            raise Http404(self.missing)
        return _private_png(getattr(row, self.field), f"{self.filename_prefix}-{row.pk}.png")


class PredictionGradcamApi(_StoredPngApi):
    """The heat-map overlay, after the same visibility check as its radiograph."""

    select, path = prediction_get_for_user, gradcam_path
    field, filename_prefix, missing = "gradcam", "gradcam", "No heat-map for this prediction."


class MeasurementSerializer(serializers.ModelSerializer):
    """The Cobb measurement of a radiograph. Status is queued, running, succeeded or failed. A
    succeeded measurement is either measured (angles in degrees, the largest curve with its end
    vertebrae and apex named T1-L5, and 68 landmarks as [x, y] in the stored image's pixels: 4
    corners per vertebra T1..L5, top-left, top-right, bottom-left, bottom-right) or not measured,
    with the reason in `not_measured` and every angle null. These fields are always the model's.

    `correction` is the film's latest reviewer correction the requesting user may see (null if
    none): the angle the case shows, with its own `landmarks` (the same 68 pairs, as corrected),
    end vertebrae, apex, who (null for a clinician) and when; the radiograph API's
    `measurement_correction` is the same object."""

    cobb = serializers.SerializerMethodField()
    largest = serializers.SerializerMethodField()
    severity_words = serializers.SerializerMethodField()
    scoliosis_evidence = serializers.BooleanField(read_only=True, allow_null=True)
    not_measured = BlankAsNullField()
    overlay_url = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    curve_type = BlankAsNullField()
    severity = BlankAsNullField()
    correction = serializers.SerializerMethodField()

    class Meta:
        model = Measurement
        fields = [
            "id", "status", "cobb", "largest", "curve_type", "severity", "severity_words",
            "scoliosis_evidence", "landmarks", "not_measured", "overlay_url", "model_version",
            "error", "created_at", "finished_at", "correction",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_cobb(self, m: Measurement) -> dict:
        return {"pt": m.cobb_pt, "mt": m.cobb_mt, "tl": m.cobb_tl}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_largest(self, m: Measurement) -> dict | None:
        if m.largest_angle is None:
            return None
        return {"angle": m.largest_angle, "upper": m.largest_upper, "lower": m.largest_lower,
                "apex": m.largest_apex}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_severity_words(self, m: Measurement) -> str | None:
        return severity_in_words(m.severity) or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_overlay_url(self, m: Measurement) -> str | None:
        path = measurement_overlay_path(m)
        request = self.context.get("request")
        return path if path is None or request is None else request.build_absolute_uri(path)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_model_version(self, m: Measurement) -> dict:
        return {"id": m.model_version.pk, "name": m.model_version.name}

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_correction(self, m: Measurement) -> dict | None:
        request = self.context.get("request")
        if request is None:
            return None
        return measurement_correction_for_user(radiograph=m.radiograph, user=request.user)


@extend_schema(responses=MeasurementSerializer)
class MeasurementDetailApi(SelectedRowApi):
    select = measurement_get_for_user
    serializer_class = MeasurementSerializer


class MeasurementOverlayApi(_StoredPngApi):
    """The measurement drawn on the film (vertebra outlines, end vertebrae endplates, angles),
    after the same visibility and blind-reading check as the measurement itself."""

    select, path = measurement_get_for_user, measurement_overlay_path
    field, filename_prefix, missing = "overlay", "cobb", "No overlay for this measurement."


def _latest_payload(radiograph: Radiograph, request, latest, serializer_class) -> dict | None:
    """The radiograph's latest answer as the API shows it. The caller has already checked that
    the user may see `radiograph`; blind reading may still hide the answer."""
    if request is not None and model_answer_hidden(user=request.user, radiograph=radiograph):
        return None
    row = latest(radiograph)
    return None if row is None else serializer_class(row, context={"request": request}).data


def measurement_payload_for_radiograph(*, radiograph: Radiograph, request) -> dict | None:
    """The `measurement` of the radiograph API (registered in cases.hooks); hidden under blind
    reading like the prediction."""
    return _latest_payload(radiograph, request, measurement_latest_for_radiograph, MeasurementSerializer)


def prediction_payload_for_radiograph(*, radiograph: Radiograph, request) -> dict | None:
    """The `prediction` of the radiograph API (registered in cases.hooks)."""
    return _latest_payload(radiograph, request, prediction_latest_for_radiograph, PredictionSerializer)
