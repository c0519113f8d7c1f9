"""REST API of review: the queue, reads, adjudication, agreement. Mounted by inference.api_urls."""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.dateparse import parse_date
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Radiograph
from cases.reviews import selectors, services
from cases.roles import user_is_admin, user_is_reviewer, user_may_adjudicate
from cases.selectors import radiograph_get_for_user
from training.models import ModelVersion


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


def _raise_as_drf(exc: Exception):
    if isinstance(exc, DjangoPermissionDenied):
        raise PermissionDenied(str(exc)) from exc
    if isinstance(exc, DjangoValidationError):
        raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
    raise exc


class QueueItemSerializer(serializers.ModelSerializer):
    """A queue entry: what a reader needs, and no patient identity (no case, reference, sex,
    birth year)."""

    predicted_label = serializers.SerializerMethodField()
    prediction_status = serializers.CharField()
    confidence = serializers.FloatField(source="prediction_confidence", allow_null=True)
    out_of_distribution = serializers.BooleanField(source="prediction_ood", allow_null=True)
    read_count = serializers.IntegerField()
    disagreement = serializers.BooleanField()
    image_url = serializers.SerializerMethodField()
    read_url = serializers.SerializerMethodField()

    class Meta:
        model = Radiograph
        fields = [
            "id", "uploaded_at", "prediction_status", "predicted_label", "confidence",
            "out_of_distribution", "read_count", "disagreement", "image_url", "read_url",
        ]
        read_only_fields = fields

    def get_predicted_label(self, radiograph: Radiograph) -> str | None:
        return radiograph.predicted_label or None

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_image_url(self, radiograph: Radiograph) -> str:
        return self._absolute(reverse("cases_api:radiograph_image", args=[radiograph.pk]))

    def get_read_url(self, radiograph: Radiograph) -> str:
        return self._absolute(reverse("inference:review_read", args=[radiograph.pk]))


class QueuePagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return max(0, int(value))
    except ValueError as exc:
        raise ValidationError({name: "A whole number of days."}) from exc


class ReviewQueueApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[
            OpenApiParameter("predicted_label", str),
            OpenApiParameter("min_age_days", int),
            OpenApiParameter("max_age_days", int),
        ],
        responses=QueueItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        queue = selectors.review_queue_for_user(
            user=request.user,
            predicted_label=request.query_params.get("predicted_label", ""),
            min_age_days=_int_param(request, "min_age_days"),
            max_age_days=_int_param(request, "max_age_days"),
        )
        paginator = QueuePagination()
        page = paginator.paginate_queryset(queue, request, view=self)
        data = QueueItemSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class ReviewInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=64)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    blind = serializers.BooleanField(required=False, default=False)


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
        if not user_is_reviewer(request.user):
            raise PermissionDenied("Only reviewers may read radiographs.")
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        payload = ReviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        existed = selectors.review_get_for_reviewer(radiograph=radiograph, reviewer=request.user)
        try:
            review = services.review_submit(
                radiograph=radiograph, reviewer=request.user, **payload.validated_data
            )
        except (DjangoPermissionDenied, DjangoValidationError) as exc:
            _raise_as_drf(exc)
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
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        payload = AdjudicationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            radiograph = services.radiograph_adjudicate(
                radiograph=radiograph, admin=request.user, **payload.validated_data
            )
        except (DjangoPermissionDenied, DjangoValidationError) as exc:
            _raise_as_drf(exc)
        return Response(
            {"confirmed_label": radiograph.confirmed_label, "adjudicated": True}
        )


def parse_period(params) -> tuple[datetime | None, datetime | None, ModelVersion | None]:
    from django.utils import timezone

    def day(name: str) -> datetime | None:
        value = parse_date(params.get(name) or "")
        if value is None:
            return None
        return timezone.make_aware(datetime(value.year, value.month, value.day))

    since, until = day("since"), day("until")
    if until is not None:
        from datetime import timedelta

        until = until + timedelta(days=1)  # inclusive end day
    version = None
    if params.get("model_version"):
        version = ModelVersion.objects.filter(pk=params.get("model_version")).first()
    return since, until, version


class AgreementApi(APIView):
    permission_classes = [IsPortalAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="YYYY-MM-DD"),
            OpenApiParameter("until", str, description="YYYY-MM-DD, inclusive"),
            OpenApiParameter("model_version", int),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        since, until, version = parse_period(request.query_params)
        report = selectors.agreement_report(since=since, until=until, model_version=version)
        report.pop("rows")
        return Response(report)
