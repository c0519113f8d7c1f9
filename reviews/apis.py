"""REST API of review: the queue, reads, adjudication, agreement. Mounted by inference.api_urls."""
from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.access import blind_reading_applies, model_answer_hidden
from cases.models import Radiograph
from cases.selectors import radiograph_get_for_user
from registry.models import ModelVersion
from reviews import selectors, services
from reviews.selectors import cobb_disagreement_reason
from scoliosis_portal.api import (
    AbsoluteUrlField,
    ClientSizedPagination,
    page_response,
    service_refusals,
)
from scoliosis_portal.roles import user_is_admin, user_is_reviewer, user_may_adjudicate


class IsReviewer(BasePermission):
    message = "Only reviewers may do this."

    def has_permission(self, request, view) -> bool:
        return user_is_reviewer(request.user)


class MayAdjudicate(BasePermission):
    message = "Only admins and senior reviewers may adjudicate."

    def has_permission(self, request, view) -> bool:
        return user_may_adjudicate(request.user)


class IsPortalAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return user_is_admin(request.user)


def _reviewer_input(request: Request, radiograph_id: int, input_serializer, refusal: str):
    """(radiograph, validated input) of a reviewer's post: non-reviewers are refused (403)
    before the film is looked up (404), and the input checked (400) after."""
    if not user_is_reviewer(request.user):
        raise PermissionDenied(refusal)
    return _radiograph_input(request, radiograph_id, input_serializer)


def _radiograph_input(request: Request, radiograph_id: int, input_serializer):
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    payload = input_serializer(data=request.data)
    payload.is_valid(raise_exception=True)
    return radiograph, payload.validated_data


class QueueItemSerializer(serializers.ModelSerializer):
    """A queue entry: what a reader needs, and no patient identity (no case, reference, sex,
    birth year). Under blind reading (context `blind`) the model's answer fields are null: every
    queue entry is a film this reviewer has not read yet."""

    predicted_label = serializers.SerializerMethodField()
    prediction_status = serializers.CharField()
    confidence = serializers.SerializerMethodField()
    out_of_distribution = serializers.SerializerMethodField()
    read_count = serializers.IntegerField()
    disagreement = serializers.BooleanField()
    cobb_disagreement = serializers.SerializerMethodField()
    image_url = AbsoluteUrlField("cases_api:radiograph_image")
    read_url = AbsoluteUrlField("reviews:review_read")

    class Meta:
        model = Radiograph
        fields = [
            "id", "uploaded_at", "prediction_status", "predicted_label", "confidence",
            "out_of_distribution", "read_count", "disagreement", "cobb_disagreement", "image_url",
            "read_url",
        ]
        read_only_fields = fields

    def _answer(self, value):
        return None if self.context.get("blind", True) else value

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_predicted_label(self, radiograph: Radiograph) -> str | None:
        return self._answer(radiograph.predicted_label or None)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_confidence(self, radiograph: Radiograph) -> float | None:
        return self._answer(radiograph.prediction_confidence)

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_out_of_distribution(self, radiograph: Radiograph) -> bool | None:
        return self._answer(radiograph.prediction_ood)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cobb_disagreement(self, radiograph: Radiograph) -> str | None:
        """Why this film is at the top of the queue: its class and measured Cobb angle disagree."""
        return cobb_disagreement_reason(radiograph, blind=self.context.get("blind", True)) or None



# About a century: beyond it a date computation overflows, and no upload is that old.
MAX_AGE_DAYS = 36_500


class QueueFilterSerializer(serializers.Serializer):
    predicted_label = serializers.CharField(required=False, allow_blank=True, max_length=64)
    min_age_days = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AGE_DAYS)
    max_age_days = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AGE_DAYS)


class ReviewQueueApi(APIView):
    permission_classes = [IsReviewer]
    pagination_class = ClientSizedPagination  # read by the schema generator too: the answer is a page

    @extend_schema(
        parameters=[QueueFilterSerializer],
        responses=QueueItemSerializer(many=True),
        description="Under blind reading the model's answer fields are null and filtering by "
        "`predicted_label` is refused (400).",
    )
    def get(self, request: Request) -> Response:
        filters = QueueFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        blind = blind_reading_applies(user=request.user)
        if blind and filters.validated_data.get("predicted_label"):
            raise ValidationError(
                {"predicted_label": "Not available while blind reading is on."}
            )
        queue = selectors.review_queue_for_user(
            user=request.user,
            predicted_label=filters.validated_data.get("predicted_label", ""),
            min_age_days=filters.validated_data.get("min_age_days"),
            max_age_days=filters.validated_data.get("max_age_days"),
        )
        return page_response(self, request, queue, QueueItemSerializer, {"request": request, "blind": blind})


class ReviewInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=64)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    # No `blind` input: whether a read was blind is what the server hid, not what a client says.


class RadiographReviewsApi(APIView):
    """GET: the reads of a radiograph you may see, and its confirmed label. POST (reviewers):
    your read, created or changed."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, radiograph_id: int) -> Response:
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        return Response(
            selectors.review_payload_for_radiograph(radiograph=radiograph, user=request.user)
        )

    @extend_schema(request=ReviewInputSerializer, responses={201: dict, 200: dict})
    def post(self, request: Request, radiograph_id: int) -> Response:
        radiograph, data = _reviewer_input(
            request, radiograph_id, ReviewInputSerializer, "Only reviewers may read radiographs."
        )
        existed = selectors.review_get_for_reviewer(radiograph=radiograph, reviewer=request.user)
        blind = model_answer_hidden(user=request.user, radiograph=radiograph)
        with service_refusals():
            review = services.review_submit(radiograph=radiograph, reviewer=request.user, blind=blind, **data)
        radiograph.refresh_from_db()
        body = {
            "id": review.pk,
            "label": review.label,
            "comment": review.comment,
            "blind": review.blind,
            "updated_at": review.updated_at,
            "confirmed_label": radiograph.confirmed_label or None,
        }
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


class AdjudicationInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class RadiographAdjudicationApi(APIView):
    permission_classes = [MayAdjudicate]

    @extend_schema(request=AdjudicationInputSerializer, responses={200: dict})
    def post(self, request: Request, radiograph_id: int) -> Response:
        radiograph, data = _radiograph_input(request, radiograph_id, AdjudicationInputSerializer)
        with service_refusals():
            radiograph = services.radiograph_adjudicate(radiograph=radiograph, admin=request.user, **data)
        return Response(
            {"confirmed_label": radiograph.confirmed_label, "adjudicated": True}
        )


class PeriodSerializer(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="YYYY-MM-DD")
    until = serializers.DateField(required=False, help_text="YYYY-MM-DD, inclusive")
    model_version = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


def parse_period(params) -> tuple[datetime | None, datetime | None, ModelVersion | None]:
    """The agreement period and model version from query parameters; a malformed value raises
    rest_framework's ValidationError (a 400, never a 500)."""
    from datetime import timedelta

    from django.utils import timezone

    period = PeriodSerializer(data={k: v for k, v in params.items() if v not in ("", None)})
    period.is_valid(raise_exception=True)
    values = period.validated_data

    def day(value) -> datetime | None:
        if value is None:
            return None
        return timezone.make_aware(datetime(value.year, value.month, value.day))

    since, until = day(values.get("since")), day(values.get("until"))
    if until is not None:
        until = until + timedelta(days=1)  # inclusive end day
    version = None
    if values.get("model_version") is not None:
        version = ModelVersion.objects.filter(pk=values["model_version"]).first()
        if version is None:
            # Not silently "every version": the figures would be read as this version's.
            raise ValidationError({"model_version": "No such model version."})
    return since, until, version


class AgreementApi(APIView):
    permission_classes = [IsPortalAdmin]

    @extend_schema(parameters=[PeriodSerializer], responses={200: dict})
    def get(self, request: Request) -> Response:
        since, until, version = parse_period(request.query_params)
        report = selectors.agreement_report(since=since, until=until, model_version=version)
        report.pop("rows")
        return Response(report)


class MeasurementCorrectionInputSerializer(serializers.Serializer):
    landmarks = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False, min_length=68, max_length=68,
        help_text="68 [x, y] pairs in the stored film's pixels (T1-L5, 4 corners each: TL, TR, BL, BR). "
                  "Omitted: your last correction's, else the model's.",
    )
    upper_end = serializers.CharField(required=False, allow_blank=True, default="", max_length=4)
    lower_end = serializers.CharField(required=False, allow_blank=True, default="", max_length=4)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class RadiographMeasurementCorrectionsApi(APIView):
    """GET: the latest Cobb correction of a radiograph you may see (null if none). POST
    (reviewers, after their own read under blind reading): a correction; the server computes
    every angle from the landmarks and end vertebrae, and answers the stored result."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, radiograph_id: int) -> Response:
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        if model_answer_hidden(user=request.user, radiograph=radiograph):
            return Response({"correction": None})
        return Response({"correction": selectors.measurement_correction_payload(radiograph=radiograph, user=request.user)})

    @extend_schema(request=MeasurementCorrectionInputSerializer, responses={201: dict})
    def post(self, request: Request, radiograph_id: int) -> Response:
        radiograph, data = _reviewer_input(
            request, radiograph_id, MeasurementCorrectionInputSerializer, "Only reviewers may correct measurements."
        )
        with service_refusals():
            services.measurement_correction_submit(radiograph=radiograph, reviewer=request.user, **data)
        body = selectors.measurement_correction_payload(radiograph=radiograph, user=request.user)
        return Response(body, status=status.HTTP_201_CREATED)
