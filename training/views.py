"""Pages of training runs (admins; selectors refuse everyone else): the models page, a run's
page, starting and cancelling runs, re-reading open cases with a version, the labels export.

The models page shows the registry's versions beside the runs: registry.views builds that part
(and serves activation, roll-back and plots); this app adds the links to runs and re-reads."""
from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inference.services import model_version_reread_open_cases
from registry import selectors as registry_selectors
from registry.metric_display import metric_name, metric_value, summary_keys
from registry.models import ModelKind
from registry.views import active_version, model_versions_context
from training.runs import selectors, services
from training.runs.dataset import training_data_problems_now
from training.runs.export import confirmed_labels_export
from training.runs.hyperparameters import HYPERPARAMETERS, LANDMARK_HYPERPARAMETERS
from training.runs.landmark_dataset import LandmarkDataMissing, evaluation_fold, landmark_data_check

REFRESH_SECONDS = 3


def _bounded(name: str, recipe: dict = HYPERPARAMETERS, **kwargs) -> forms.Field:
    """A form field with the recipe's default and the platform's bounds (training.engine.recipe)."""
    default, low, high, kind = recipe[name]
    field = forms.IntegerField if kind is int else forms.FloatField
    return field(min_value=low, max_value=high, initial=default, **kwargs)


def _start_from_field(base_words: str) -> forms.Field:
    """Both kinds of run: continue the base version's weights, or start again from ImageNet."""
    return forms.ChoiceField(choices=[("base", base_words), ("imagenet", "ImageNet weights (train afresh)")],
                             initial="base", required=False)


class TrainingRunStartForm(forms.Form):
    base_model_version = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                                label="Base model")
    epochs = _bounded("epochs")
    batch_size = _bounded("batch_size")
    learning_rate = _bounded("learning_rate")
    input_size = _bounded("input_size")
    outlier_exposure = _bounded("outlier_exposure", required=False,
                                label="Outlier exposure weight (0 = off)")
    start_from = _start_from_field("the base model's weights (fine-tune)")

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model_version"].choices = [("", "the active model")] + [
            (v.pk, f"{v.name} ({v.status})") for v in versions
        ]
        # A deployment's TRAINING_DEFAULT_HYPERPARAMETERS, if any, over the shipped recipe.
        defaults = services.hyperparameters_clean({})
        for name in ("epochs", "batch_size", "learning_rate", "input_size", "start_from", "outlier_exposure"):
            self.fields[name].initial = defaults[name]


class LandmarkTrainingRunStartForm(forms.Form):
    """The landmark run's main knobs; the rest keep the recipe's values (training.engine.recipe)."""

    minutes = _bounded("minutes", LANDMARK_HYPERPARAMETERS, label="Training time budget (minutes)")
    batch_size = _bounded("batch_size", LANDMARK_HYPERPARAMETERS)
    # Blank: the recipe's peak for how the run starts (training.runs.hyperparameters).
    learning_rate = _bounded("learning_rate", LANDMARK_HYPERPARAMETERS, required=False,
                             help_text="Blank: the recipe's peak, lower for a warm start.")
    seed = _bounded("seed", LANDMARK_HYPERPARAMETERS)
    start_from = _start_from_field("the active landmark model's weights (warm start)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A deployment's TRAINING_LANDMARK_DEFAULT_HYPERPARAMETERS, if any, over the recipe.
        defaults = services.landmark_hyperparameters_clean({})
        for name, field in self.fields.items():
            field.initial = None if name == "learning_rate" else defaults[name]


def _landmark_data_problem() -> str | None:
    try:
        landmark_data_check()
    except LandmarkDataMissing as exc:
        return str(exc)
    return None


def _with_run_links(rows: list[dict]) -> list[dict]:
    """The registry's version rows, each with the link to the run that trained it and the
    re-read action (both this app's)."""
    for row in rows:
        version = row["version"]
        if version.training_run_id:
            row["run_url"] = reverse("training:run_detail", args=[version.training_run_id])
        row["reread_url"] = reverse("training:reread", args=[version.pk])
    return rows


@login_required
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    versions = list(registry_selectors.model_version_list_for_user(user=request.user))
    runs = list(selectors.training_run_list_for_user(user=request.user)[:20])
    active = active_version(versions)
    context = model_versions_context(request, versions)
    _with_run_links(context["versions"])
    context.update({
        "runs": runs,
        "live": any(run.is_live for run in runs),
        "refresh_seconds": REFRESH_SECONDS,
        "start_form": TrainingRunStartForm(versions=versions),
        "landmark_form": LandmarkTrainingRunStartForm(),
        "landmark_data_problem": _landmark_data_problem(),
        "landmark_evaluation_fold": evaluation_fold(),
        # Shown beside the start button: the reasons a run would be refused now.
        "data_problems": training_data_problems_now(required_labels=list(active.labels) if active else []),
        "now": timezone.now(),
    })
    return render(request, "training/models.html", context)


def _start_refused(request: HttpRequest, form: forms.Form) -> HttpResponse:
    messages.error(request, "The run was not started: " + "; ".join(
        f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("training:models")


def _start(request: HttpRequest, what: str, **options) -> HttpResponse:
    """Start a run and show it; a conflict or a refusal goes back to the models page, said."""
    try:
        run = services.training_run_start(user=request.user, **options)
    except services.TrainingRunConflict as exc:
        messages.error(request, str(exc))
        return redirect("training:models")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("training:models")
    messages.success(request, f"{what} #{run.pk} queued.")
    return redirect("training:run_detail", training_run_id=run.pk)


@login_required
@require_POST
def training_run_start(request: HttpRequest) -> HttpResponse:
    versions = list(registry_selectors.model_version_list_for_user(user=request.user))
    form = TrainingRunStartForm(request.POST, versions=versions)
    if not form.is_valid():
        return _start_refused(request, form)
    data = form.cleaned_data
    base = next((v for v in versions if v.pk == data["base_model_version"]), None)
    hyper = {k: data[k] for k in ("epochs", "batch_size", "learning_rate", "input_size")}
    hyper["start_from"] = data["start_from"] or "base"
    if data["outlier_exposure"] is not None:
        hyper["outlier_exposure"] = data["outlier_exposure"]
    return _start(request, "Training run", base_model_version=base, hyperparameters=hyper)


@login_required
@require_POST
def landmark_training_run_start(request: HttpRequest) -> HttpResponse:
    selectors.training_run_list_for_user(user=request.user)  # admins only, before anything is read
    form = LandmarkTrainingRunStartForm(request.POST)
    if not form.is_valid():
        return _start_refused(request, form)
    return _start(request, "Landmark training run", kind=ModelKind.LANDMARKS,
                  hyperparameters={k: v for k, v in form.cleaned_data.items() if v not in (None, "")})


@login_required
@require_GET
def training_run_detail(request: HttpRequest, training_run_id: int) -> HttpResponse:
    run = selectors.training_run_get_for_user(user=request.user, training_run_id=training_run_id)
    history = run.history or []
    return render(request, "training/run_detail.html", {
        "run": run,
        "model_version": selectors.model_version_produced_by(run),
        "curve": _loss_curve(history),
        "history": history,
        "refresh_seconds": REFRESH_SECONDS,
        "evaluation_rows": _evaluation_rows(run.evaluation or {}),
    })


def _evaluation_rows(evaluation: dict) -> list[tuple[str, str, str]]:
    cand = ((evaluation.get("candidate") or {}).get("metrics")) or {}
    act = ((evaluation.get("active") or {}).get("metrics")) or {}
    return [(metric_name(k), metric_value(k, cand.get(k)), metric_value(k, act.get(k))) for k in summary_keys(cand)]


def _loss_curve(history: list[dict], width: int = 480, height: int = 160) -> dict | None:
    """SVG polyline points of the training loss (and validation loss) per epoch."""
    series = {name: [h.get(name) for h in history if h.get(name) is not None]
              for name in ("train_loss", "val_loss")}
    values = [v for s in series.values() for v in s]
    if len(history) < 2 or not values:
        return None
    top, n = max(values) or 1.0, len(history)

    def points(seq: list[float]) -> str:
        return " ".join(f"{20 + i * (width - 40) / (n - 1):.1f},{height - 20 - v / top * (height - 40):.1f}"
                        for i, v in enumerate(seq))

    return {"width": width, "height": height, "train": points(series["train_loss"]),
            "val": points(series["val_loss"]) if series["val_loss"] else "", "max": top}


@login_required
@require_POST
def training_run_cancel(request: HttpRequest, training_run_id: int) -> HttpResponse:
    run = selectors.training_run_get_for_user(user=request.user, training_run_id=training_run_id)
    try:
        services.training_run_cancel(training_run=run, user=request.user)
        messages.success(request, f"Cancellation of run #{run.pk} requested.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect("training:run_detail", training_run_id=run.pk)


@login_required
@require_POST
def model_version_reread(request: HttpRequest, model_version_id: int) -> HttpResponse:
    version = registry_selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    count = model_version_reread_open_cases(model_version=version, user=request.user)
    messages.success(request, f"{count} radiograph(s) of open cases queued for {version.name}.")
    return redirect("training:models")


@login_required
@require_GET
def confirmed_labels_export_view(request: HttpRequest) -> HttpResponse:
    # Spooled: small exports stay in memory, large ones go to a temp file, never into MEDIA.
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    confirmed_labels_export(user=request.user, out=out)
    out.seek(0)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = FileResponse(out, content_type="application/zip", as_attachment=True,
                            filename=f"confirmed-labels-{stamp}.zip")
    response["Cache-Control"] = "private, no-store"
    return response
