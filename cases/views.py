"""Server-rendered pages. Thin: selectors read, services write, templates show."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_http_methods, require_POST

from cases.forms import CaseForm, CaseSearchForm
from cases.models import Case, Radiograph
from cases.roles import user_is_admin
from cases.selectors import (
    case_get_for_user,
    case_list_for_user,
    radiograph_get_for_user,
)
from cases.services import (
    UploadFailed,
    case_can_change,
    case_can_create,
    case_create,
    case_update,
    radiograph_upload,
)

PAGE_SIZE = 25
# The inference app may provide this partial to show the model's answer on a radiograph page.
PREDICTION_PARTIAL = "inference/_radiograph_prediction.html"


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
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
# by the review feature, which sits above this app; imported at call time, as cases.apis does.


def _film_states_for_case(user, case: Case) -> list:
    from cases.reviews.film_states import film_states_for_case

    return film_states_for_case(user=user, case=case)


def _film_states_for_cases(user, cases: list[Case]) -> dict[int, list]:
    from cases.reviews.film_states import film_states_for_cases

    return film_states_for_cases(user=user, cases=cases)


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
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    return render(
        request,
        "cases/radiograph_detail.html",
        {"radiograph": radiograph, "case": radiograph.case, "prediction_partial": _prediction_partial()},
    )


def _prediction_partial() -> str | None:
    try:
        get_template(PREDICTION_PARTIAL)
    except TemplateDoesNotExist:
        return None
    return PREDICTION_PARTIAL


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who created, changed or deleted cases and radiographs, and when (admins only)."""
    if not user_is_admin(request.user):
        raise PermissionDenied("Only admins see the audit trail.")
    kind = request.GET.get("kind", "case")
    model = Radiograph if kind == "radiograph" else Case
    records = model.history.select_related("history_user").order_by("-history_date", "-history_id")
    page = Paginator(records, 50).get_page(request.GET.get("page"))
    return render(request, "cases/audit_log.html", {"page": page, "kind": kind})
