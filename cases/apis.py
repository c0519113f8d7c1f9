"""REST API of the cases app (mounted under /api/v1/). Views are thin: selectors read, services
write, serializers only shape data."""
from __future__ import annotations

import datetime

import django_filters
from django.contrib.auth import authenticate
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
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import downloads
from cases.api_errors import TooManyAttemptsError, UploadRejectedError
from cases.models import Case, CaseStatus, Radiograph, Sex
from cases.selectors import case_get_for_user, case_list_for_user, radiograph_get_for_user
from cases.services import (
    UploadFailed,
    case_create,
    case_update,
    radiograph_upload,
)


class CasePagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


# --- prediction hook ----------------------------------------------------------------------------


def radiograph_prediction_payload(radiograph: Radiograph, request: Request | None) -> dict | None:
    """The model's answer for a radiograph as the API shows it, or None.

    The inference app fills this by providing
    `inference.selectors.prediction_payload_for_radiograph(*, radiograph, request) -> dict | None`;
    until it does, the answer is None.
    """
    try:
        from inference.selectors import prediction_payload_for_radiograph
    except ImportError:
        return None
    return prediction_payload_for_radiograph(radiograph=radiograph, request=request)


# --- serializers --------------------------------------------------------------------------------


class RadiographSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    dicom_url = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()
    confirmed_label = serializers.SerializerMethodField()
    reads = serializers.SerializerMethodField()

    class Meta:
        model = Radiograph
        fields = [
            "id", "case", "image_url", "thumbnail_url", "dicom_url", "width", "height",
            "content_type", "source_format", "bit_depth", "size_bytes", "uploaded_at",
            "prediction", "confirmed_label", "reads",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_image_url(self, radiograph: Radiograph) -> str:
        return self._absolute(reverse("cases_api:radiograph_image", args=[radiograph.pk]))

    def get_thumbnail_url(self, radiograph: Radiograph) -> str:
        return self._absolute(reverse("cases_api:radiograph_thumbnail", args=[radiograph.pk]))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_dicom_url(self, radiograph: Radiograph) -> str | None:
        if not radiograph.dicom_deidentified:
            return None
        return self._absolute(reverse("cases_api:radiograph_dicom", args=[radiograph.pk]))

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_prediction(self, radiograph: Radiograph) -> dict | None:
        return radiograph_prediction_payload(radiograph, self.context.get("request"))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_confirmed_label(self, radiograph: Radiograph) -> str | None:
        return radiograph.confirmed_label or None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_reads(self, radiograph: Radiograph) -> list[dict]:
        # The review selector decides which reads (and reader names) this user may see.
        from cases.reviews.selectors import review_payload_for_radiograph

        request = self.context.get("request")
        if request is None:
            return []
        return review_payload_for_radiograph(radiograph=radiograph, user=request.user)["reads"]


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
        radiographs = case.radiographs.order_by("uploaded_at", "id")
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


# --- auth ---------------------------------------------------------------------------------------


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (send it as `Authorization: Token ...`).
    Failed attempts count towards the same lockout as the login page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # django-axes needs the Django request to count failures per username and address.
        user = authenticate(request._request, **data.validated_data)
        if getattr(request._request, "axes_locked_out", False):
            raise TooManyAttemptsError()
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to sign in with these credentials."]}
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


# --- cases --------------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("search", str, description="Part of the patient reference or notes."),
    ]
)
class CaseListCreateApi(generics.ListAPIView):
    serializer_class = CaseListSerializer
    pagination_class = CasePagination
    filterset_class = CaseFilter

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


class RadiographDetailApi(APIView):
    @extend_schema(responses=RadiographSerializer)
    def get(self, request: Request, radiograph_id: int) -> Response:
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        return Response(RadiographSerializer(radiograph, context={"request": request}).data)


# --- protected files ----------------------------------------------------------------------------


class _RadiographFileApi(APIView):
    """Streams a stored file after the same visibility check as the radiograph itself.
    Session (pages) and token (API clients) both work; the answer is never cached publicly."""

    kind = "image"

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, radiograph_id: int) -> FileResponse:
        radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
        return downloads.radiograph_file_response(radiograph=radiograph, kind=self.kind)


class RadiographImageApi(_RadiographFileApi):
    kind = "image"


class RadiographThumbnailApi(_RadiographFileApi):
    kind = "thumbnail"


class RadiographDicomApi(_RadiographFileApi):
    kind = "dicom"


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
