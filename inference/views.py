"""Pages of the inference app: the prediction panel of a radiograph (full page or fragment)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cases.access import model_answer_hidden
from cases.selectors import radiograph_get_for_user
from inference.selectors import prediction_latest_for_radiograph, prediction_panel_context

# Seconds between refreshes while the model is still reading (meta refresh without JS).
REFRESH_SECONDS = 3


@login_required
@require_GET
def prediction_panel(request: HttpRequest, radiograph_id: int) -> HttpResponse:
    """The model's answer for one radiograph. `?fragment=1` returns only the panel, which the
    page's script polls; without JavaScript the full page refreshes itself until it is done. Its
    Cobb layer draws the latest correction the user may see, or with `?cobb=model` (the reading
    page's panel) the model's measurement."""
    radiograph = radiograph_get_for_user(user=request.user, radiograph_id=radiograph_id)
    if model_answer_hidden(user=request.user, radiograph=radiograph):
        raise PermissionDenied("Blind reading: the model's answer is shown once your read is saved.")
    context = prediction_panel_context(
        radiograph=radiograph, prediction=prediction_latest_for_radiograph(radiograph),
        user=None if request.GET.get("cobb") == "model" else request.user,
    )
    context["refresh_seconds"] = REFRESH_SECONDS
    template = (
        "inference/_prediction_panel.html"
        if request.GET.get("fragment")
        else "inference/prediction_page.html"
    )
    response = render(request, template, context)
    response["Cache-Control"] = "private, no-store"
    return response
