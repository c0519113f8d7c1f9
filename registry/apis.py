"""REST API of the model registry (mounted under /api/v1/): list, read, activate with a reason,
roll back. Admins only: the selectors refuse everyone else (403; anonymous 401)."""
from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import selectors, services
from registry.models import ModelVersion, ModelVersionStatus
from registry.risks import ModelVersionActivationRisky, model_version_activation_risks
from scoliosis_portal.api import SelectedPageApi, validation_error


class Pagination(PageNumberPagination):
    page_size = 25


class ModelVersionSerializer(serializers.ModelSerializer):
    activated_by = serializers.SerializerMethodField()
    training_run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id", "name", "status", "status_reason", "sha256", "architecture", "labels",
            "input_size", "metrics", "model_card", "training_run", "activated_by",
            "activated_at", "created_at",
        ]
        read_only_fields = fields

    def get_activated_by(self, version: ModelVersion) -> str | None:
        return version.activated_by.get_username() if version.activated_by else None


@extend_schema(responses=ModelVersionSerializer(many=True))
class ModelVersionListApi(SelectedPageApi):
    pagination_class = Pagination  # read by the schema generator too: the answer is a page
    select = selectors.model_version_list_for_user
    serializer_class = ModelVersionSerializer


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request: Request, model_version_id: int) -> Response:
        version = selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        return Response(ModelVersionSerializer(version).data)


class ModelVersionActivateInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=False, trim_whitespace=True)
    override = serializers.BooleanField(
        required=False, default=False,
        help_text="Needed to activate a candidate that would make things worse than the active "
                  "model (see activation-risks); recorded with the reason.",
    )


class ModelVersionRollbackInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class _ModelVersionActionApi(APIView):
    """POST {reason}: the admin's action on this version; answers with the version."""

    InputSerializer: type[serializers.Serializer]
    perform: Callable[..., ModelVersion]

    def post(self, request: Request, model_version_id: int) -> Response:
        version = selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = {k: v for k, v in data.validated_data.items() if k != "reason"}
        try:
            version = type(self).perform(
                version=version, user=request.user, reason=data.validated_data["reason"], **options
            )
        except ModelVersionActivationRisky as exc:
            raise exceptions.ValidationError({
                "non_field_errors": [exc.messages[0]],
                "override": [risk.message for risk in exc.review.risks],
            }) from exc
        except DjangoValidationError as exc:
            raise validation_error(exc) from exc
        return Response(ModelVersionSerializer(version).data)


@extend_schema(request=ModelVersionActivateInputSerializer, responses=ModelVersionSerializer)
class ModelVersionActivateApi(_ModelVersionActionApi):
    InputSerializer = ModelVersionActivateInputSerializer

    @staticmethod
    def perform(*, version: ModelVersion, user, reason: str, override: bool = False) -> ModelVersion:
        return services.model_version_activate(
            model_version=version, user=user, reason=reason, override=override
        )


@extend_schema(request=ModelVersionRollbackInputSerializer, responses=ModelVersionSerializer)
class ModelVersionRollbackApi(_ModelVersionActionApi):
    """Roll back to this (earlier, retired) version in one action."""

    InputSerializer = ModelVersionRollbackInputSerializer

    @staticmethod
    def perform(*, version: ModelVersion, user, reason: str) -> ModelVersion:
        return services.model_version_rollback(user=user, model_version=version, reason=reason)


class ModelVersionActivationRisksApi(APIView):
    """What would get worse if this version replaced the active one, before anyone activates it."""

    @extend_schema(responses=inline_serializer("ActivationRisks", {
        "candidate": serializers.IntegerField(), "active": serializers.IntegerField(allow_null=True),
        "needs_override": serializers.BooleanField(), "risks": serializers.ListField(child=serializers.DictField()),
        "classes_lost": serializers.ListField(child=serializers.CharField()),
        "gate_failures": serializers.ListField(child=serializers.CharField()),
        "ood_flag_rate": serializers.DictField(), "metric_deltas": serializers.ListField(child=serializers.DictField()),
        "same_evaluation_set": serializers.BooleanField(),
    }))
    def get(self, request: Request, model_version_id: int) -> Response:
        version = selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        active = selectors.model_version_get_active()
        if version.status != ModelVersionStatus.CANDIDATE:
            active = None  # a rollback or the active version itself: nothing to check
        return Response(model_version_activation_risks(candidate=version, active=active).as_dict())
