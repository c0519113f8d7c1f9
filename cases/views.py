"""Server-rendered pages. Thin: selectors read, services write, templates show."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from cases import hooks
from cases.audit import access_log_query
from cases.forms import CaseForm, CaseSearchForm
from cases.models import Case, Radiograph
from cases.selectors import (
    case_access_allowed,
    case_get_for_user,
    case_list_for_user,
    case_radiograph_get_for_user,
)
from cases.services import (
    UploadFailed,
    case_can_change,
    case_can_create,
    case_create,
    case_update,
    radiograph_upload,
)
from cases.uploads import parses_uploads
from scoliosis_portal.roles import user_is_admin, user_is_reviewer

PAGE_SIZE = 25
# The inference app may provide this partial to show the model's answer on a radiograph page.
# Where a reviewer without cases of their own lands (the reviews app's queue page).
REVIEWER_START = "reviews:review_queue"


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    if not case_access_allowed(user=request.user) and user_is_reviewer(request.user):
        # Reviewers read films, not patients: their start page is the review queue.
        return redirect(REVIEWER_START)
    form = CaseSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    cases = case_list_for_user(
        user=request.user,
        search=filters.get("q", ""),
        sex=filters.get("sex", ""),
        status=filters.get("status", ""),
    )
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    films = _film_states_for_cases(request.user, page.object_list)
    for row in page.object_list:
        row.films = films.get(row.pk, [])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/case_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_create": case_can_create(user=request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_create_view(request: HttpRequest) -> HttpResponse:
    if not case_can_create(user=request.user):
        raise PermissionDenied("Only clinicians open cases.")
    form = CaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        case = case_create(user=request.user, **form.cleaned_data)
        messages.success(request, "Case created. You can now upload radiographs.")
        return redirect("cases:case_detail", case_id=case.pk)
    return render(request, "cases/case_form.html", {"form": form, "case": None})


@login_required
@require_http_methods(["GET", "POST"])
def case_edit(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, case_id=case_id)
    if not case_can_change(user=request.user, case=case):
        raise PermissionDenied("You may read this case but not change it.")
    form = CaseForm(request.POST or None, instance=Case(pk=case.pk, **_case_fields(case)))
    if request.method == "POST" and form.is_valid():
        case_update(user=request.user, case=case, data=form.cleaned_data)
        messages.success(request, "Case saved.")
        return redirect("cases:case_detail", case_id=case.pk)
    return render(request, "cases/case_form.html", {"form": form, "case": case})


def _case_fields(case: Case) -> dict:
    # A detached copy for the form, so form validation never mutates the loaded case.
    return {name: getattr(case, name) for name in ("patient_reference", "sex", "birth_year", "notes")}


# --- film states hook ---------------------------------------------------------------------------
# Each film's state (pending, model answer, outlier, confirmed, corrected, disputed) is computed
# by the reviews app, which sits above this one and registers it in cases.hooks.


def _film_states_for_case(user, case: Case) -> list:
    return hooks.film_states_for_case(user=user, case=case)


def _film_states_for_cases(user, cases: list[Case]) -> dict[int, list]:
    return hooks.film_states_for_cases(user=user, cases=cases)


def _case_detail_context(request: HttpRequest, case: Case) -> dict:
    return {
        "case": case,
        "films": _film_states_for_case(request.user, case),
        "can_change": case_can_change(user=request.user, case=case),
    }


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, case_id=case_id)
    return render(request, "cases/case_detail.html", _case_detail_context(request, case))


@parses_uploads
@login_required
@require_POST
def radiograph_upload_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, case_id=case_id)
    try:
        radiographs = radiograph_upload(
            user=request.user, case=case, files=request.FILES.getlist("file")
        )
    except UploadFailed as exc:
        context = {**_case_detail_context(request, case), "rejections": exc.rejections}
        return render(request, "cases/case_detail.html", context, status=400)
    count = len(radiographs)
    messages.success(request, f"{count} radiograph{'s' if count != 1 else ''} uploaded.")
    return redirect("cases:case_detail", case_id=case.pk)


@login_required
def radiograph_detail(request: HttpRequest, radiograph_id: int) -> HttpResponse:
    # The page shows the case (patient) behind the film: owners and admins only. Reviewers read
    # films on the review feature's reading page.
    radiograph = case_radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    return render(
        request,
        "cases/radiograph_detail.html",
        {"radiograph": radiograph, "case": radiograph.case, "prediction_partial": _prediction_partial(),
         "more_partials": hooks.radiograph_page_partials()[1:]},
    )


def _prediction_partial() -> str | None:
    # The model's panel, when an app above registered one (cases.hooks).
    partials = hooks.radiograph_page_partials()
    return partials[0] if partials else None


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who created, changed or deleted cases and radiographs, and who read patient data, when
    and from where (admins only). The access log is searched by patient reference and user."""
    if not user_is_admin(request.user):
        raise PermissionDenied("Only admins see the audit trail.")
    kind = request.GET.get("kind", "case")
    context: dict = {"kind": kind}
    if kind == "access":
        patient = request.GET.get("patient", "")[:64]
        username = request.GET.get("user", "")[:150]
        records = access_log_query(patient_reference=patient, username=username)
        context.update({"patient": patient, "username": username})
        query = {"kind": kind, "patient": patient, "user": username}
    else:
        model = Radiograph if kind == "radiograph" else Case
        records = model.history.select_related("history_user").order_by("-history_date", "-history_id")
        query = {"kind": kind}
    context["page"] = Paginator(records, 50).get_page(request.GET.get("page"))
    context["query"] = urlencode({k: v for k, v in query.items() if v})
    return render(request, "cases/audit_log.html", context)
