"""The access log: every read of patient data, who, what, when and from where.

Changes are audited by django-simple-history (who changed which row); reads are audited here, in
the append-only `AccessLogEntry` (cases.models). One middleware records them for every page, API
endpoint, file download and Django admin view named in `ACCESS_ROUTES`, after the view answered
successfully, so a view cannot forget to log and a refused request (404, 403) logs nothing of
patient data. A URL added later that shows patient data gets a line in `ACCESS_ROUTES`; the test
suite checks every listed name still resolves.

Any app may import this module (cases is the lowest app).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch

from cases.models import (
    AccessChannel,
    AccessLogEntry,
    AccessResource,
    Case,
    Radiograph,
)

# --- writing ------------------------------------------------------------------------------------


def client_address_for(request: HttpRequest) -> str | None:
    """The client's address as the login lockout sees it (django-axes: honours the proxy
    settings, so behind the reverse proxy it is the client's, not the proxy's)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


def access_log_record(
    *,
    user,
    resource: AccessResource | str,
    channel: AccessChannel | str,
    path: str,
    client_address: str | None = None,
    case_id: int | None = None,
    radiograph_id: int | None = None,
    object_id: int | None = None,
) -> AccessLogEntry:
    """Append one entry. The case is filled in from the radiograph when not given, so that a
    query by patient finds reads of their films as well as of their case."""
    if case_id is None and radiograph_id is not None:
        case_id = Radiograph.objects.filter(pk=radiograph_id).values_list("case_id", flat=True).first()
    return AccessLogEntry.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        username=user.get_username() if getattr(user, "is_authenticated", False) else "",
        resource=AccessResource(resource),
        channel=AccessChannel(channel),
        case_id=case_id,
        radiograph_id=radiograph_id,
        object_id=object_id,
        path=path[:500],
        client_address=client_address,
    )


# --- which URLs read patient data ---------------------------------------------------------------


def _int(match: ResolverMatch, name: str) -> int | None:
    """A URL's object id: a named group, or (simple-history's admin URLs) the first positional."""
    value = match.kwargs.get(name, match.args[0] if match.args else None)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _by_case(match: ResolverMatch) -> dict:
    return {"case_id": _int(match, "case_id")}


def _by_radiograph(match: ResolverMatch) -> dict:
    return {"radiograph_id": _int(match, "radiograph_id")}


def _by_prediction(match: ResolverMatch) -> dict:
    prediction_id = _int(match, "prediction_id")
    # Through the reverse relation, so the cases app needs no import of the inference app.
    radiograph_id = (
        Radiograph.objects.filter(predictions__pk=prediction_id).values_list("pk", flat=True).first()
    )
    return {"radiograph_id": radiograph_id, "object_id": prediction_id}


def _by_measurement(match: ResolverMatch) -> dict:
    measurement_id = _int(match, "measurement_id")
    radiograph_id = (
        Radiograph.objects.filter(measurements__pk=measurement_id).values_list("pk", flat=True).first()
    )
    return {"radiograph_id": radiograph_id, "object_id": measurement_id}


def _by_admin_object(key: str) -> Callable[[ResolverMatch], dict]:
    return lambda match: {key: _int(match, "object_id")}


def _nothing(match: ResolverMatch) -> dict:
    return {}


@dataclass(frozen=True)
class AccessRoute:
    resource: AccessResource
    channel: AccessChannel
    objects: Callable[[ResolverMatch], dict]


_PAGE, _API, _ADMIN = AccessChannel.PAGE, AccessChannel.API, AccessChannel.ADMIN
R = AccessResource

# URL name -> what a successful GET of it reads.
ACCESS_ROUTES: dict[str, AccessRoute] = {
    "cases:case_list": AccessRoute(R.CASE_LIST, _PAGE, _nothing),
    "cases:case_detail": AccessRoute(R.CASE, _PAGE, _by_case),
    "cases:case_edit": AccessRoute(R.CASE, _PAGE, _by_case),
    "cases:radiograph_detail": AccessRoute(R.RADIOGRAPH, _PAGE, _by_radiograph),
    "cases_api:case_list": AccessRoute(R.CASE_LIST, _API, _nothing),
    "cases_api:case_detail": AccessRoute(R.CASE, _API, _by_case),
    "cases_api:radiograph_detail": AccessRoute(R.RADIOGRAPH, _API, _by_radiograph),
    "cases_api:radiograph_image": AccessRoute(R.IMAGE, _API, _by_radiograph),
    "cases_api:radiograph_thumbnail": AccessRoute(R.THUMBNAIL, _API, _by_radiograph),
    "cases_api:radiograph_pixels": AccessRoute(R.IMAGE, _API, _by_radiograph),
    "cases_api:radiograph_dicom": AccessRoute(R.DICOM, _API, _by_radiograph),
    "reviews_api:radiograph_reviews": AccessRoute(R.RADIOGRAPH, _API, _by_radiograph),
    "inference_api:prediction_detail": AccessRoute(R.PREDICTION, _API, _by_prediction),
    "inference_api:prediction_gradcam": AccessRoute(R.HEATMAP, _API, _by_prediction),
    "inference:prediction_panel": AccessRoute(R.PREDICTION, _PAGE, _by_radiograph),
    "inference_api:measurement_detail": AccessRoute(R.MEASUREMENT, _API, _by_measurement),
    "inference_api:measurement_overlay": AccessRoute(R.MEASUREMENT_OVERLAY, _API, _by_measurement),
    "reviews:review_read": AccessRoute(R.RADIOGRAPH, _PAGE, _by_radiograph),
    "reviews_api:radiograph_measurement_corrections": AccessRoute(R.MEASUREMENT, _API, _by_radiograph),
    "reads:case_report": AccessRoute(R.EXPORT, _PAGE, _by_case),
    "reads:dispute_list": AccessRoute(R.RADIOGRAPH, _PAGE, _nothing),
    "training:export": AccessRoute(R.EXPORT, _PAGE, _nothing),
    "admin:cases_case_changelist": AccessRoute(R.CASE_LIST, _ADMIN, _nothing),
    "admin:cases_case_change": AccessRoute(R.CASE, _ADMIN, _by_admin_object("case_id")),
    "admin:cases_case_history": AccessRoute(R.CASE, _ADMIN, _by_admin_object("case_id")),
    "admin:cases_radiograph_change": AccessRoute(
        R.RADIOGRAPH, _ADMIN, _by_admin_object("radiograph_id")
    ),
    "admin:cases_radiograph_history": AccessRoute(
        R.RADIOGRAPH, _ADMIN, _by_admin_object("radiograph_id")
    ),
    # One past version of the row (simple-history's read-only version page).
    "admin:cases_case_simple_history": AccessRoute(R.CASE, _ADMIN, _by_admin_object("case_id")),
    "admin:cases_radiograph_simple_history": AccessRoute(
        R.RADIOGRAPH, _ADMIN, _by_admin_object("radiograph_id")
    ),
}


class AccessLogMiddleware:
    """Records a successful GET of any URL in ACCESS_ROUTES (after the view, so only reads that
    were allowed are logged). For the REST API, the user is the one DRF authenticated (DRF sets
    it on the Django request). If the entry cannot be written, the request fails: a read that
    cannot be audited is not served."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is None or request.method not in ("GET", "HEAD"):
            return response
        route = ACCESS_ROUTES.get(match.view_name)
        if route is None or not 200 <= response.status_code < 300:
            return response
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response
        access_log_record(
            user=user,
            resource=route.resource,
            channel=route.channel,
            path=request.get_full_path(),
            client_address=client_address_for(request),
            **route.objects(match),
        )
        return response


# --- reading (admins) ---------------------------------------------------------------------------


def access_log_query(*, patient_reference: str = "", username: str = "") -> QuerySet[AccessLogEntry]:
    """Entries newest first, narrowed to one patient (every case with that reference, archived
    ones included, and every film of them) and/or one user. Callers check the user is an admin."""
    entries = AccessLogEntry.objects.all()
    patient_reference = patient_reference.strip()
    if patient_reference:
        case_ids = Case.objects.filter(patient_reference__iexact=patient_reference).values("pk")
        entries = entries.filter(case_id__in=case_ids)
    if username.strip():
        entries = entries.filter(username__iexact=username.strip())
    return entries.order_by("-at", "-id")
