"""Pages of review: the queue, the reading page (blind mode, keyboard), the agreement page."""
from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DRFValidationError

from cases.access import blind_reading_applies, model_answer_hidden, patient_age_band
from cases.selectors import radiograph_get_for_user
from inference.selectors import (
    measurement_latest_for_radiograph,
    prediction_latest_for_radiograph,
    prediction_panel_context,
)
from registry.models import ModelVersion
from registry.selectors import model_version_get_active
from reviews import selectors, services
from reviews.apis import MAX_AGE_DAYS, parse_period
from scoliosis_portal.roles import user_is_admin, user_is_reviewer


def _require_reviewer(request: HttpRequest) -> None:
    if not user_is_reviewer(request.user):
        raise PermissionDenied("Only reviewers work the review queue.")


def _days(value: str | None) -> int | None:
    try:
        days = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    return None if days is None else min(max(0, days), MAX_AGE_DAYS)


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    # Blind reading is server state (cases.access), not a request flag; while it applies, the
    # queue neither shows nor filters by the model's answer.
    blind = blind_reading_applies(user=request.user)
    predicted_label = "" if blind else request.GET.get("predicted_label", "")
    queue = selectors.review_queue_for_user(
        user=request.user,
        predicted_label=predicted_label,
        min_age_days=_days(request.GET.get("min_age_days")),
        max_age_days=_days(request.GET.get("max_age_days")),
    )
    page = Paginator(queue, 25).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for item in page.object_list:
        item.cobb_reason = selectors.cobb_disagreement_reason(item, blind=blind)
    active = model_version_get_active()
    return render(
        request,
        "review/queue.html",
        {
            "page": page,
            "blind": blind,
            "label_choices": list(active.labels) if active else [],
            "filters": request.GET,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_read(request: HttpRequest, radiograph_id: int) -> HttpResponse:
    """Read one radiograph. In blind mode the model's answer stays hidden until this reviewer
    has committed a read; then it is shown, with the way on to the next item."""
    _require_reviewer(request)
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    blind = blind_reading_applies(user=request.user)
    hidden = model_answer_hidden(user=request.user, radiograph=radiograph)
    mine = selectors.review_get_for_reviewer(radiograph=radiograph, reviewer=request.user)
    choices = selectors.label_choices_for_radiograph(radiograph)
    error = ""
    if request.method == "POST":
        try:
            review = services.review_submit(
                radiograph=radiograph,
                reviewer=request.user,
                label=request.POST.get("label", ""),
                comment=request.POST.get("comment", ""),
                blind=hidden,
            )
        except ValidationError as exc:
            error = "; ".join(m for ms in exc.message_dict.values() for m in ms)
        else:
            messages.success(request, f"Read saved: {review.label}.")
            if hidden:
                # Now the answer may be shown: back to this page, which reveals it.
                return redirect("reviews:review_read", radiograph_id=radiograph.pk)
            return redirect(_next_url(request, radiograph.pk))
    # While hidden, the answer never reaches the page at all (not merely left unrendered).
    prediction = None if hidden else prediction_latest_for_radiograph(radiograph)
    context = prediction_panel_context(radiograph=radiograph, prediction=prediction)
    context.update(
        {
            "blind": blind,
            "reveal": not hidden,
            "mine": mine,
            "choices": [
                {"label": label, "key": "u" if label == "ungradable" else str(i + 1)}
                for i, label in enumerate(choices)
            ],
            "error": error,
            "next_url": _next_url(request, radiograph.pk),
            "cobb_editor": None if hidden else _cobb_editor_context(radiograph, request.user),
            # What a reader may need of the patient (as the radiograph API gives reviewers): sex
            # and a ten-year age band, never the reference or the birth year.
            "patient_sex": radiograph.case.get_sex_display(),
            "patient_age_band": patient_age_band(radiograph=radiograph),
        }
    )
    response = render(request, "review/read.html", context, status=400 if error else 200)
    response["Cache-Control"] = "private, no-store"
    return response


def _cobb_editor_context(radiograph, user) -> dict | None:
    """What the Cobb layer starts from: this reviewer's last correction, else the model's
    measurement; None when neither has landmarks (a film the model did not measure)."""
    mine = selectors.measurement_correction_latest(radiograph=radiograph, reviewer=user)
    measurement = measurement_latest_for_radiograph(radiograph)
    if mine is not None:
        landmarks, upper, lower = mine.landmarks, mine.upper_end, mine.lower_end
    elif measurement is not None and measurement.landmarks:
        landmarks, upper, lower = measurement.landmarks, measurement.largest_upper, measurement.largest_lower
    else:
        return None
    return {
        "landmarks": json.dumps(landmarks),
        "upper": upper,
        "lower": lower,
        "mine": mine,
        "model_angle": getattr(measurement, "largest_angle", None),
    }


@login_required
@require_POST
def measurement_correct(request: HttpRequest, radiograph_id: int) -> HttpResponse:
    """The reading page's Cobb form: landmarks (JSON) and end vertebrae as the editor left them."""
    _require_reviewer(request)
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    try:
        landmarks = json.loads(request.POST.get("landmarks") or "null")
        correction = services.measurement_correction_submit(
            radiograph=radiograph, reviewer=request.user, landmarks=landmarks,
            upper_end=request.POST.get("upper", ""), lower_end=request.POST.get("lower", ""),
            comment=request.POST.get("comment", ""),
        )
    except json.JSONDecodeError:
        messages.error(request, "The measurement was not saved: the landmarks were not readable.")
    except ValidationError as exc:
        messages.error(request, "The measurement was not saved: " + "; ".join(exc.messages))
    else:
        messages.success(request, f"Measurement saved: {correction.largest_angle:.1f}° "
                                  f"({correction.upper_end}–{correction.lower_end}).")
    return redirect("reviews:review_read", radiograph_id=radiograph.pk)


def _next_url(request: HttpRequest, current_id: int) -> str:
    following = selectors.review_queue_next(user=request.user, after_radiograph_id=current_id)
    if following is None:
        return reverse("reviews:review_queue")
    return reverse("reviews:review_read", args=[following.pk])


@login_required
@require_GET
def agreement(request: HttpRequest) -> HttpResponse:
    if not user_is_admin(request.user):
        raise PermissionDenied("Only admins see the agreement figures.")
    try:
        since, until, version = parse_period(request.GET)
    except DRFValidationError:
        return HttpResponseBadRequest("Malformed period or model version.")
    report = selectors.agreement_report(since=since, until=until, model_version=version)
    return render(
        request,
        "review/agreement.html",
        {
            "report": report,
            "versions": ModelVersion.objects.order_by("-created_at"),
            "selected_version": version,
            "filters": request.GET,
        },
    )
