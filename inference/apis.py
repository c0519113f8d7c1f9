"""REST API of the inference app: the prediction representation and the Grad-CAM download."""
from __future__ import annotations

import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.access import model_answer_hidden
from cases.models import Radiograph
from inference.models import Prediction
from inference.selectors import (
    gradcam_path,
    prediction_get_for_user,
    prediction_latest_for_radiograph,
)

logger = logging.getLogger(__name__)


class PredictionSerializer(serializers.ModelSerializer):
    """What a client sees of a model's answer. Status is one of queued, running, succeeded,
    failed; the answer fields are null until it succeeded."""

    model_version = serializers.SerializerMethodField()
    gradcam_url = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id", "status", "label", "confidence", "probabilities", "out_of_distribution",
            "ood_score", "model_version", "gradcam_url", "error", "created_at", "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_label(self, prediction: Prediction) -> str | None:
        return prediction.label or None

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


class PredictionDetailApi(APIView):
    @extend_schema(responses=PredictionSerializer)
    def get(self, request: Request, prediction_id: int) -> Response:
        prediction = prediction_get_for_user(user=request.user, prediction_id=prediction_id)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)


class PredictionGradcamApi(APIView):
    """The heat-map overlay, after the same visibility check as its radiograph."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, prediction_id: int):
        from django.http import FileResponse, Http404

        prediction = prediction_get_for_user(user=request.user, prediction_id=prediction_id)
        if gradcam_path(prediction) is None:
            raise Http404("No heat-map for this prediction.")
        try:
            handle = prediction.gradcam.open("rb")
        except FileNotFoundError as exc:
            logger.error("prediction %s: stored heat-map is missing", prediction.pk)
            raise Http404("The heat-map file is missing.") from exc
        response = FileResponse(
            handle, content_type="image/png", filename=f"gradcam-{prediction.pk}.png"
        )
        response["Content-Disposition"] = response["Content-Disposition"].replace(
            "attachment", "inline"
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def prediction_payload_for_radiograph(*, radiograph: Radiograph, request) -> dict | None:
    """The `prediction` of the radiograph API (registered in cases.hooks). The caller has
    already checked that the user may see `radiograph`; blind reading may still hide the answer."""
    if request is not None and model_answer_hidden(user=request.user, radiograph=radiograph):
        return None
    prediction = prediction_latest_for_radiograph(radiograph)
    if prediction is None:
        return None
    return PredictionSerializer(prediction, context={"request": request}).data
