"""The adjudication page: disputed films with their reads side by side, and a form that settles
the label with a reason through `radiograph_adjudicate` (which records who, when and why in
the radiograph's history)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases.selectors import radiograph_get_for_user
from reviews.disputes import dispute_list_for_user, disputed_radiographs_for_user
from reviews.services import radiograph_adjudicate
from scoliosis_portal.roles import user_may_adjudicate

REASON_MAX_LENGTH = 500


def _require_adjudicator(request: HttpRequest) -> None:
    if not user_may_adjudicate(request.user):
        raise PermissionDenied("Only admins and senior reviewers settle disputed reads.")


@login_required
@require_GET
def dispute_list(request: HttpRequest) -> HttpResponse:
    _require_adjudicator(request)
    page = Paginator(disputed_radiographs_for_user(user=request.user), 10).get_page(
        request.GET.get("page")
    )
    disputes = dispute_list_for_user(user=request.user, radiographs=page.object_list)
    response = render(request, "review/adjudication.html", {"page": page, "disputes": disputes})
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def dispute_settle(request: HttpRequest, radiograph_id: int) -> HttpResponse:
    _require_adjudicator(request)
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, f"Film #{radiograph.pk}: give the reason for the final label.")
        return redirect("reads:dispute_list")
    try:
        radiograph = radiograph_adjudicate(
            radiograph=radiograph,
            admin=request.user,
            label=request.POST.get("label", ""),
            reason=reason[:REASON_MAX_LENGTH],
        )
    except ValidationError as exc:
        text = "; ".join(m for ms in exc.message_dict.values() for m in ms)
        messages.error(request, f"Film #{radiograph.pk}: {text}")
    else:
        messages.success(
            request, f"Film #{radiograph.pk} settled as {radiograph.confirmed_label}."
        )
    return redirect("reads:dispute_list")
