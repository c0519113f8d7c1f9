"""Pages of the model registry (admins; the selectors refuse everyone else): activate a version
with a reason, roll back, a version's evaluation plots, and the model-versions part of the
admin's models page.

That page also shows training runs, which are the training app's: training.views composes it
from `model_versions_context` (and templates/registry/_model_versions.html,
_model_comparison.html) beside its own runs. The actions here answer with that page, named by
the REGISTRY_VERSIONS_PAGE setting so that the registry names no app above it."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from registry import selectors, services
from registry.metric_display import SUMMARY_KEYS, metric_name, metric_value, summary_keys
from registry.models import ModelKind, ModelVersion, ModelVersionStatus
from registry.risks import ModelVersionActivationRisky, model_version_activation_risks


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=True, strip=True)
    # Needed (with the reason) to activate a candidate that would make things worse.
    override = forms.BooleanField(required=False)


# --- the model-versions part of the models page -------------------------------------------------


def active_version(versions: list[ModelVersion]) -> ModelVersion | None:
    return next((v for v in versions if v.status == ModelVersionStatus.ACTIVE), None)


def _evaluation(version: ModelVersion) -> dict:
    return (version.metrics or {}).get("evaluation") or {}


def _summary(version: ModelVersion) -> list[tuple[str, str]]:
    """(human name, formatted value) of the version's evaluation metrics, in reading order."""
    metrics = _evaluation(version)
    return [(metric_name(k), metric_value(k, metrics.get(k))) for k in summary_keys(metrics)]


def _chosen(request: HttpRequest, key: str, by_id: dict):
    try:
        return by_id.get(int(request.GET.get(key, "")))
    except ValueError:
        return None


def _comparison_pair(request: HttpRequest, versions: list) -> list:
    """Version A beside version B; B is the active version unless chosen, and a version is never
    compared with itself. With nothing chosen: the newest other version beside the active one.
    Only versions of one kind are compared (the classifier's, unless A is a landmark model)."""
    a = _chosen(request, "a", {v.pk: v for v in versions})
    kind = a.kind if a is not None else ModelKind.CLASSIFIER
    versions = [v for v in versions if v.kind == kind]
    active = active_version(versions)
    b = _chosen(request, "b", {v.pk: v for v in versions}) or active
    if a is None:
        a = next((v for v in versions if v != b), None)
    if b is None or b == a:
        b = active if active is not None and active != a else next((v for v in versions if v != a), None)
    return [v for v in (a, b) if v is not None]


def _comparison(request: HttpRequest, versions: list) -> list[dict]:
    return [
        {
            "version": v,
            "summary": _summary(v),
            "labels": list(v.labels),
            "confusion": list(zip(v.labels, _evaluation(v).get("confusion_matrix") or [], strict=False)),
            "plots": sorted((v.metrics or {}).get("evaluation_plots", {}) or {}),
        }
        for v in _comparison_pair(request, versions)
    ]


def _version_row(version: ModelVersion, active: ModelVersion | None) -> dict:
    metrics = _evaluation(version)
    row = {
        "version": version,
        "summary": {k: metric_value(k, metrics.get(k)) for k in SUMMARY_KEYS},
        "source": (version.metrics or {}).get("evaluation_source", ""),
        "review": None,
    }
    if version.status == ModelVersionStatus.CANDIDATE and active is not None:
        review = model_version_activation_risks(candidate=version, active=active)
        row["review"] = review
        row["deltas"] = [
            {"name": metric_name(d.key), "active": metric_value(d.key, d.active),
             "candidate": metric_value(d.key, d.candidate),
             "delta": "–" if d.delta is None else f"{d.delta:+.3f}", "worse": d.worse}
            for d in review.deltas
        ]
    return row


def model_versions_context(request: HttpRequest, versions: list[ModelVersion]) -> dict:
    """What the registry's templates need: each version with its summary (and, for a candidate,
    what activating it would make worse), and two versions side by side (`?a=`, `?b=`).

    A row may carry `run_url` (the training run that made it) and `reread_url` (re-read open
    cases with it): the page that shows the versions adds them, the registry knows neither."""
    active = active_version(versions)
    comparison = _comparison(request, versions)
    return {
        "versions": [_version_row(v, active) for v in versions],
        "all_versions": versions,
        "comparison": comparison,
        "compare_ids": [col["version"].pk for col in comparison] + [None, None],
        "can_roll_back": any(v.status == ModelVersionStatus.RETIRED for v in versions),
    }


# --- actions ------------------------------------------------------------------------------------


def _back() -> HttpResponse:
    return redirect(settings.REGISTRY_VERSIONS_PAGE)


@contextmanager
def _refusal_shown(request: HttpRequest) -> Iterator[None]:
    """A service's refusal is said on the page the action answers with."""
    try:
        yield
    except ModelVersionActivationRisky as exc:
        messages.error(request, f"{exc.messages[0]} Tick the override box to activate it anyway.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))


@login_required
@require_POST
def model_version_activate(request: HttpRequest, model_version_id: int) -> HttpResponse:
    version = selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for activating a model version.")
        return _back()
    reason = form.cleaned_data["reason"]
    with _refusal_shown(request):
        if version.status == ModelVersionStatus.RETIRED:
            services.model_version_rollback(user=request.user, model_version=version, reason=reason)
        else:
            services.model_version_activate(
                model_version=version, user=request.user, reason=reason,
                override=form.cleaned_data["override"],
            )
        messages.success(request, f"{version.name} is now the active model.")
    return _back()


@login_required
@require_POST
def model_version_rollback(request: HttpRequest) -> HttpResponse:
    """One action: back to the version that was active before the current one."""
    selectors.model_version_list_for_user(user=request.user)
    with _refusal_shown(request):
        version = services.model_version_rollback(user=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"Rolled back to {version.name}.")
    return _back()


@login_required
@require_GET
def model_version_plot(request: HttpRequest, model_version_id: int, name: str) -> HttpResponse:
    """An evaluation plot (PNG) of a version, through the same admin check as the page."""
    from django.core.files.storage import default_storage

    version = selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    path = ((version.metrics or {}).get("evaluation_plots") or {}).get(name)
    if not path:
        raise Http404("No such plot.")
    response = FileResponse(default_storage.open(path, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response
