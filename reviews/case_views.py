"""The case's reads as the clinician follows them: a small JSON status the case page polls,
and the printable PDF report. Both go through `case_get_for_user`, like the case page."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from cases.selectors import case_get_for_user
from reviews.film_states import case_status_payload
from reviews.report import case_report_export


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def case_status(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, case_id=case_id)
    return _private(JsonResponse(case_status_payload(user=request.user, case=case)))


@login_required
@require_GET
def case_report(request: HttpRequest, case_id: int) -> HttpResponse:
    """The PDF as a download. Its file name carries the case number, never the patient's
    reference (file names end up in download folders and logs)."""
    case = case_get_for_user(user=request.user, case_id=case_id)
    pdf = case_report_export(user=request.user, case=case)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="case-{case.pk}-report.pdf"'
    return _private(response)
