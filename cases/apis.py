"""REST API of the cases app (mounted under /api/v1/). Views are thin: selectors read, services
write, serializers only shape data."""
from __future__ import annotations

import datetime

import django_filters
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import downloads, hooks
from cases.access import model_answer_hidden, patient_age_band, radiograph_identity_visible
from cases.api_errors import UploadRejectedError
from cases.models import Case, CaseStatus, Radiograph, Sex
from cases.selectors import (
    case_access_allowed,
    case_get_for_user,
    case_list_for_user,
    case_radiograph_get_for_user,
    radiograph_get_for_user,
)
from cases.services import (
    UploadFailed,
    case_create,
    case_update,
    radiograph_upload,
)
from cases.uploads import parses_uploads
from scoliosis_portal.api import (
    AbsoluteUrlField,
    BlankAsNullField,
    ClientSizedPagination,
    SelectedRowApi,
)

# --- serializers --------------------------------------------------------------------------------


class ReadSerializer(serializers.Serializer):
    """One reviewer's read as the radiograph API shows it (`reviewer` only to reviewers and
    admins)."""

    label = serializers.CharField()
    comment = serializers.CharField()
    blind = serializers.BooleanField()
    reviewer = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField()


class RadiographSerializer(serializers.ModelSerializer):
    """A radiograph as its viewer may see it: the case id and the de-identified DICOM only for
    those who may see the case (owner, admin); for reviewers the film, the patient's sex and a
    coarse age band, and the model's answer only once blind reading allows it."""

    case = serializers.SerializerMethodField()
    patient_sex = serializers.CharField(source="case.sex", read_only=True)
    patient_age_band = serializers.SerializerMethodField()
    image_url = AbsoluteUrlField("cases_api:radiograph_image")
    thumbnail_url = AbsoluteUrlField("cases_api:radiograph_thumbnail")
    dicom_url = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()
    measurement = serializers.SerializerMethodField()
    confirmed_label = BlankAsNullField()
    reads = serializers.SerializerMethodField()
    measurement_correction = serializers.SerializerMethodField()
    burned_in_flagged = serializers.BooleanField(
        read_only=True,
        help_text="Text may be burned into the pixels and no admin has cleared the film: it is "
        "kept out of label export and retraining.",
    )

    class Meta:
        model = Radiograph
        fields = [
            "id", "case", "patient_sex", "patient_age_band", "image_url", "thumbnail_url",
            "dicom_url", "width", "height",
            "content_type", "source_format", "bit_depth", "size_bytes", "uploaded_at",
            "prediction", "measurement", "confirmed_label", "reads", "measurement_correction",
            "burned_in_annotation", "burned_in_flagged",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def _identity_visible(self, radiograph: Radiograph) -> bool:
        request = self.context.get("request")
        return request is not None and radiograph_identity_visible(
            user=request.user, radiograph=radiograph
        )

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_case(self, radiograph: Radiograph) -> int | None:
        return radiograph.case_id if self._identity_visible(radiograph) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_patient_age_band(self, radiograph: Radiograph) -> str | None:
        return patient_age_band(radiograph=radiograph)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_dicom_url(self, radiograph: Radiograph) -> str | None:
        if not radiograph.dicom_deidentified or not self._identity_visible(radiograph):
            return None
        return self._absolute(reverse("cases_api:radiograph_dicom", args=[radiograph.pk]))

    def _model_answer(self, radiograph: Radiograph, payload) -> dict | None:
        # The model's answer comes from the app that registered it (cases.hooks). Under blind
        # reading it is None for a reviewer who has not saved their own read yet (cases.access).
        request = self.context.get("request")
        if request is not None and model_answer_hidden(user=request.user, radiograph=radiograph):
            return None
        return payload(radiograph=radiograph, request=request)

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_prediction(self, radiograph: Radiograph) -> dict | None:
        return self._model_answer(radiograph, hooks.radiograph_prediction_payload)

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_measurement(self, radiograph: Radiograph) -> dict | None:
        # The Cobb measurement: angles, largest curve, landmarks, overlay_url.
        return self._model_answer(radiograph, hooks.radiograph_measurement_payload)

    @extend_schema_field(ReadSerializer(many=True))
    def get_reads(self, radiograph: Radiograph) -> list[dict]:
        # The reviews app registers the reads, and its selector decides which reads (and
        # reader names) this user may see.
        request = self.context.get("request")
        if request is None:
            return []
        return hooks.radiograph_reads_payload(radiograph=radiograph, user=request.user)

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_measurement_correction(self, radiograph: Radiograph) -> dict | None:
        # A reviewer's corrected Cobb measurement (the reviews app registers it; its selector
        # decides which this user may see). It is a read of the model's answer: withheld with it.
        request = self.context.get("request")
        if request is None or model_answer_hidden(user=request.user, radiograph=radiograph):
            return None
        return hooks.radiograph_measurement_correction_payload(radiograph=radiograph, user=request.user)


class CaseListSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    radiograph_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Case
        fields = [
            "id", "patient_reference", "sex", "birth_year", "notes", "status", "owner",
            "radiograph_count", "created_at", "updated_at",
        ]
        read_only_fields = fields


class CaseDetailSerializer(CaseListSerializer):
    radiographs = serializers.SerializerMethodField()

    class Meta(CaseListSerializer.Meta):
        fields = [*CaseListSerializer.Meta.fields, "radiographs"]
        read_only_fields = fields

    @extend_schema_field(RadiographSerializer(many=True))
    def get_radiographs(self, case: Case) -> list[dict]:
        radiographs = (
            case.radiographs.filter(archived_at=None).select_related("case").order_by("uploaded_at", "id")
        )
        return RadiographSerializer(radiographs, many=True, context=self.context).data


class CaseWriteSerializer(serializers.Serializer):
    patient_reference = serializers.CharField(max_length=64)
    sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = serializers.IntegerField(required=False, allow_null=True, min_value=1900)
    notes = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_patient_reference(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Enter the patient's reference.")
        return value

    def validate_birth_year(self, value: int | None) -> int | None:
        if value is not None and value > datetime.date.today().year:
            raise serializers.ValidationError("The birth year cannot be in the future.")
        return value


class CaseFilter(django_filters.FilterSet):
    sex = django_filters.ChoiceFilter(choices=Sex.choices)
    status = django_filters.ChoiceFilter(choices=CaseStatus.choices)
    birth_year_min = django_filters.NumberFilter(field_name="birth_year", lookup_expr="gte")
    birth_year_max = django_filters.NumberFilter(field_name="birth_year", lookup_expr="lte")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Case
        fields = ["sex", "status"]


# --- cases --------------------------------------------------------------------------------------


class WorksWithCases(BasePermission):
    """Case lists and case creation are for clinicians and admins; a reviewer reads films, not
    patients, and has no case API at all."""

    message = "Only clinicians and admins work with cases."

    def has_permission(self, request, view) -> bool:
        return case_access_allowed(user=request.user)


@extend_schema(
    parameters=[
        OpenApiParameter("search", str, description="Part of the patient reference or notes."),
    ]
)
class CaseListCreateApi(generics.ListAPIView):
    serializer_class = CaseListSerializer
    pagination_class = ClientSizedPagination
    filterset_class = CaseFilter
    permission_classes = [WorksWithCases]

    def get_queryset(self):
        return case_list_for_user(
            user=self.request.user, search=self.request.query_params.get("search", "")
        )

    @extend_schema(request=CaseWriteSerializer, responses={201: CaseDetailSerializer})
    def post(self, request: Request) -> Response:
        data = CaseWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = case_create(user=request.user, **data.validated_data)
        case = case_get_for_user(user=request.user, case_id=case.pk)
        body = CaseDetailSerializer(case, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class CaseDetailApi(APIView):
    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        case = case_get_for_user(user=request.user, case_id=case_id)
        return Response(CaseDetailSerializer(case, context={"request": request}).data)

    @extend_schema(request=CaseWriteSerializer(partial=True), responses=CaseDetailSerializer)
    def patch(self, request: Request, case_id: int) -> Response:
        case = case_get_for_user(user=request.user, case_id=case_id)
        data = CaseWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        case_update(user=request.user, case=case, data=dict(data.validated_data))
        case = case_get_for_user(user=request.user, case_id=case_id)
        return Response(CaseDetailSerializer(case, context={"request": request}).data)


@parses_uploads
class RadiographUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
                "required": ["file"],
            }
        },
        responses={
            201: inline_serializer(
                "UploadedRadiographs", {"radiographs": RadiographSerializer(many=True)}
            ),
            400: OpenApiTypes.OBJECT,
        },
        description="Upload one or more images (repeat the `file` field). All or nothing: if any "
        "file is rejected, the answer lists an error per rejected file and nothing is stored.",
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = case_get_for_user(user=request.user, case_id=case_id)
        try:
            radiographs = radiograph_upload(
                user=request.user, case=case, files=request.FILES.getlist("file")
            )
        except UploadFailed as exc:
            raise UploadRejectedError([r.as_dict() for r in exc.rejections]) from exc
        body = RadiographSerializer(radiographs, many=True, context={"request": request}).data
        return Response({"radiographs": body}, status=status.HTTP_201_CREATED)


@extend_schema(responses=RadiographSerializer)
class RadiographDetailApi(SelectedRowApi):
    select = radiograph_get_for_user
    serializer_class = RadiographSerializer


# --- protected files ----------------------------------------------------------------------------


class _RadiographFileApi(APIView):
    """Streams a stored file after the same visibility check as the radiograph itself.
    Session (pages) and token (API clients) both work; the answer is never cached publicly."""

    kind = "image"
    # Whether the file belongs with the case (the patient) rather than with the film alone: the
    # DICOM copy carries study attributes, so only those who may see the case fetch it.
    with_case = False

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, radiograph_id: int) -> FileResponse:
        select = case_radiograph_get_for_user if self.with_case else radiograph_get_for_user
        radiograph = select(user=request.user, radiograph_id=radiograph_id)
        return downloads.radiograph_file_response(radiograph=radiograph, kind=self.kind)


class RadiographImageApi(_RadiographFileApi):
    kind = "image"


class RadiographThumbnailApi(_RadiographFileApi):
    kind = "thumbnail"


class RadiographDicomApi(_RadiographFileApi):
    kind = "dicom"
    with_case = True


class RadiographPixelsApi(APIView):
    """The stored pixel values, raw, for the film viewer's window/level (16-bit where the film
    is). Same visibility check as the image itself."""

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="Row-major little-endian samples (uint16 if `X-Bit-Depth` is 16, else "
        "uint8), `X-Channels` per pixel (1 grayscale, 3 RGB), `X-Image-Width` by "
        "`X-Image-Height` pixels.",
    )
    def get(self, request: Request, radiograph_id: int) -> HttpResponse:
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        return downloads.radiograph_pixels_response(
            radiograph=radiograph, accept_encoding=request.headers.get("Accept-Encoding", "")
        )
