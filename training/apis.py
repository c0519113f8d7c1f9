"""REST API of training runs and re-reads by a model version (mounted under /api/v1/). Admins
only: the selectors refuse everyone else (403; anonymous 401). The registry's own endpoints are
in registry.apis."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.services import model_version_reread_open_cases
from registry import selectors as registry_selectors
from registry.apis import Pagination
from registry.models import ModelKind
from scoliosis_portal.api import SelectedPageApi, validation_error
from training.models import TrainingRun
from training.runs import selectors, services


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "Conflict."


class TrainingRunSerializer(serializers.ModelSerializer):
    started_by = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "kind", "status", "progress", "epoch", "total_epochs", "metrics", "history",
            "log_tail", "error", "hyperparameters", "base_model_version", "dataset",
            "evaluation", "model_version", "cancel_requested", "started_by", "created_at",
            "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_started_by(self, run: TrainingRun) -> str:
        return run.started_by.get_username()

    def get_model_version(self, run: TrainingRun) -> int | None:
        version = selectors.model_version_produced_by(run)
        return version.pk if version else None


class TrainingRunStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices, required=False, default=ModelKind.CLASSIFIER)
    base_model_version = serializers.IntegerField(required=False, allow_null=True)
    hyperparameters = serializers.DictField(required=False, default=dict)


class ModelVersionRereadApi(APIView):
    """Queue predictions by this version for the radiographs of every case not yet reviewed."""

    @extend_schema(request=None, responses=inline_serializer("Reread", {"queued": serializers.IntegerField()}))
    def post(self, request: Request, model_version_id: int) -> Response:
        version = registry_selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
        count = model_version_reread_open_cases(model_version=version, user=request.user)
        return Response({"queued": count}, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses=TrainingRunSerializer(many=True))
class TrainingRunListCreateApi(SelectedPageApi):
    pagination_class = Pagination  # read by the schema generator too: the answer is a page
    select = selectors.training_run_list_for_user
    serializer_class = TrainingRunSerializer

    @extend_schema(request=TrainingRunStartSerializer, responses={202: TrainingRunSerializer})
    def post(self, request: Request) -> Response:
        # The selector refuses non-admins before anything is parsed.
        selectors.training_run_list_for_user(user=request.user)
        data = TrainingRunStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        base_id = data.validated_data.get("base_model_version")
        base = (
            registry_selectors.model_version_get_for_user(user=request.user, model_version_id=base_id)
            if base_id else None
        )
        try:
            run = services.training_run_start(
                user=request.user, base_model_version=base,
                hyperparameters=data.validated_data.get("hyperparameters"),
                kind=data.validated_data["kind"],
            )
        except services.TrainingRunConflict as exc:
            raise Conflict(str(exc)) from exc
        except DjangoValidationError as exc:
            raise validation_error(exc) from exc
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, training_run_id: int) -> Response:
        run = selectors.training_run_get_for_user(user=request.user, training_run_id=training_run_id)
        return Response(TrainingRunSerializer(run).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingRunSerializer)
    def post(self, request: Request, training_run_id: int) -> Response:
        run = selectors.training_run_get_for_user(user=request.user, training_run_id=training_run_id)
        try:
            run = services.training_run_cancel(training_run=run, user=request.user)
        except DjangoValidationError as exc:
            raise Conflict(exc.messages[0]) from exc
        return Response(TrainingRunSerializer(run).data)
