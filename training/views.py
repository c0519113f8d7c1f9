"""Pages of the model registry and training runs (admins; selectors refuse everyone else).

The registry's pages live here, in the admin's tool, and call the registry's services."""
from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inference.services import model_version_reread_open_cases
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import ModelKind, ModelVersionStatus
from registry.risks import ModelVersionActivationRisky, model_version_activation_risks
from training.runs import selectors, services
from training.runs.dataset import training_data_problems_now
from training.runs.export import confirmed_labels_export
from training.runs.hyperparameters import HYPERPARAMETERS, LANDMARK_HYPERPARAMETERS
from training.runs.landmark_dataset import LandmarkDataMissing, evaluation_fold, landmark_data_check

REFRESH_SECONDS = 3
SUMMARY_KEYS = ["macro_f1", "accuracy", "balanced_accuracy", "ece", "ood_flag_rate",
                "largest_mae", "measured_share", "smape", "n"]  # classifier, then landmark figures
METRIC_NAMES = {
    "macro_f1": "Macro-F1",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "ece": "Calibration error (ECE)",
    "ood_flag_rate": "Spine films called out of distribution",
    "largest_mae": "Largest angle, mean absolute error (°)",
    "measured_share": "Films measured",
    "smape": "SMAPE of the three angles",
    "n": "Films evaluated",
}


def metric_name(key: str) -> str:
    """A metric key as a reader says it: "Sensitivity (scoliosis)", not sensitivity_scoliosis."""
    for prefix, word in (("sensitivity_", "Sensitivity"), ("specificity_", "Specificity"), ("auc_", "AUC")):
        if key.startswith(prefix):
            return f"{word} ({key.removeprefix(prefix)})"
    return METRIC_NAMES.get(key, key.replace("_", " ").capitalize())


def metric_value(key: str, value) -> str:
    if value is None:
        return "–"
    if key == "n":
        return str(int(value))
    if key in ("ood_flag_rate", "measured_share"):
        return f"{float(value):.1%}"
    if key == "largest_mae":
        return f"{float(value):.1f}"
    return f"{float(value):.3f}"


def _bounded(name: str, **kwargs) -> forms.Field:
    """A form field with the recipe's default and the platform's bounds (training.engine.recipe)."""
    default, low, high, kind = HYPERPARAMETERS[name]
    field = forms.IntegerField if kind is int else forms.FloatField
    return field(min_value=low, max_value=high, initial=default, **kwargs)


class TrainingRunStartForm(forms.Form):
    base_model_version = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                                label="Base model")
    epochs = _bounded("epochs")
    batch_size = _bounded("batch_size")
    learning_rate = _bounded("learning_rate")
    input_size = _bounded("input_size")
    outlier_exposure = _bounded("outlier_exposure", required=False,
                                label="Outlier exposure weight (0 = off)")
    start_from = forms.ChoiceField(choices=[("base", "the base model's weights (fine-tune)"),
                                            ("imagenet", "ImageNet weights (train afresh)")],
                                   initial="base", required=False)

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model_version"].choices = [("", "the active model")] + [
            (v.pk, f"{v.name} ({v.status})") for v in versions
        ]
        # A deployment's TRAINING_DEFAULT_HYPERPARAMETERS, if any, over the shipped recipe.
        defaults = services.hyperparameters_clean({})
        for name in ("epochs", "batch_size", "learning_rate", "input_size", "start_from", "outlier_exposure"):
            self.fields[name].initial = defaults[name]


def _landmark_bounded(name: str, **kwargs) -> forms.Field:
    default, low, high, kind = LANDMARK_HYPERPARAMETERS[name]
    field = forms.IntegerField if kind is int else forms.FloatField
    return field(min_value=low, max_value=high, initial=default, **kwargs)


class LandmarkTrainingRunStartForm(forms.Form):
    """The landmark run's main knobs; the rest keep the recipe's values (training.engine.recipe)."""

    minutes = _landmark_bounded("minutes", label="Training time budget (minutes)")
    batch_size = _landmark_bounded("batch_size")
    # Blank: the recipe's peak for how the run starts (training.runs.hyperparameters).
    learning_rate = _landmark_bounded("learning_rate", required=False,
                                      help_text="Blank: the recipe's peak, lower for a warm start.")
    seed = _landmark_bounded("seed")
    start_from = forms.ChoiceField(choices=[("base", "the active landmark model's weights (warm start)"),
                                            ("imagenet", "ImageNet weights (train afresh)")],
                                   initial="base", required=False)

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


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=True, strip=True)
    # Needed (with the reason) to activate a candidate that would make things worse.
    override = forms.BooleanField(required=False)


def _evaluation(version) -> dict:
    return (version.metrics or {}).get("evaluation") or {}


def _summary(version) -> list[tuple[str, str]]:
    """(human name, formatted value) of the version's evaluation metrics, in reading order."""
    metrics = _evaluation(version)
    keys = SUMMARY_KEYS + sorted(k for k in metrics if k.startswith("sensitivity_"))
    return [(metric_name(k), metric_value(k, metrics.get(k))) for k in keys if k in metrics]


def _chosen(request: HttpRequest, key: str, by_id: dict):
    try:
        return by_id.get(int(request.GET.get(key, "")))
    except ValueError:
        return None


def _comparison_pair(request: HttpRequest, versions: list) -> list:
    """Version A beside version B; B is the active version unless chosen, and a version is never
    compared with itself. With nothing chosen: the newest other version beside the active one.
    Only versions of one kind are compared (the classifier's, unless A is a landmark model)."""
    chosen_a = _chosen(request, "a", {v.pk: v for v in versions})
    kind = chosen_a.kind if chosen_a is not None else ModelKind.CLASSIFIER
    versions = [v for v in versions if v.kind == kind]
    by_id = {v.pk: v for v in versions}
    active = next((v for v in versions if v.status == ModelVersionStatus.ACTIVE), None)
    a, b = _chosen(request, "a", by_id), _chosen(request, "b", by_id) or active
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


def _version_row(version, active) -> dict:
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


@login_required
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    versions = list(registry_selectors.model_version_list_for_user(user=request.user))
    runs = list(selectors.training_run_list_for_user(user=request.user)[:20])
    live = any(run.is_live for run in runs)
    active = next((v for v in versions if v.status == ModelVersionStatus.ACTIVE), None)
    comparison = _comparison(request, versions)
    context = {
        "versions": [_version_row(v, active) for v in versions],
        "all_versions": versions,
        "comparison": comparison,
        "compare_ids": [col["version"].pk for col in comparison] + [None, None],
        "can_roll_back": any(v.status == ModelVersionStatus.RETIRED for v in versions),
        "runs": runs,
        "live": live,
        "refresh_seconds": REFRESH_SECONDS,
        "start_form": TrainingRunStartForm(versions=versions),
        "landmark_form": LandmarkTrainingRunStartForm(),
        "landmark_data_problem": _landmark_data_problem(),
        "landmark_evaluation_fold": evaluation_fold(),
        # Shown beside the start button: the reasons a run would be refused now.
        "data_problems": training_data_problems_now(required_labels=list(active.labels) if active else []),
        "now": timezone.now(),
    }
    return render(request, "training/models.html", context)


@login_required
@require_POST
def training_run_start(request: HttpRequest) -> HttpResponse:
    versions = list(registry_selectors.model_version_list_for_user(user=request.user))
    form = TrainingRunStartForm(request.POST, versions=versions)
    if not form.is_valid():
        messages.error(request, "The run was not started: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("training:models")
    data = form.cleaned_data
    base = next((v for v in versions if v.pk == data["base_model_version"]), None)
    hyper = {k: data[k] for k in ("epochs", "batch_size", "learning_rate", "input_size")}
    hyper["start_from"] = data["start_from"] or "base"
    if data["outlier_exposure"] is not None:
        hyper["outlier_exposure"] = data["outlier_exposure"]
    try:
        run = services.training_run_start(user=request.user, base_model_version=base, hyperparameters=hyper)
    except services.TrainingRunConflict as exc:
        messages.error(request, str(exc))
        return redirect("training:models")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("training:models")
    messages.success(request, f"Training run #{run.pk} queued.")
    return redirect("training:run_detail", training_run_id=run.pk)


@login_required
@require_POST
def landmark_training_run_start(request: HttpRequest) -> HttpResponse:
    selectors.training_run_list_for_user(user=request.user)  # admins only, before anything is read
    form = LandmarkTrainingRunStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The run was not started: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("training:models")
    try:
        run = services.training_run_start(user=request.user, kind=ModelKind.LANDMARKS, hyperparameters={
            k: v for k, v in form.cleaned_data.items() if v not in (None, "")})
    except services.TrainingRunConflict as exc:
        messages.error(request, str(exc))
        return redirect("training:models")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("training:models")
    messages.success(request, f"Landmark training run #{run.pk} queued.")
    return redirect("training:run_detail", training_run_id=run.pk)


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
    keys = [k for k in SUMMARY_KEYS if k in cand] + sorted(k for k in cand if k.startswith("sensitivity_"))
    return [(metric_name(k), metric_value(k, cand.get(k)), metric_value(k, act.get(k))) for k in keys]


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
def model_version_activate(request: HttpRequest, model_version_id: int) -> HttpResponse:
    version = registry_selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for activating a model version.")
        return redirect("training:models")
    reason = form.cleaned_data["reason"]
    try:
        if version.status == ModelVersionStatus.RETIRED:
            registry_services.model_version_rollback(user=request.user, model_version=version, reason=reason)
        else:
            registry_services.model_version_activate(
                model_version=version, user=request.user, reason=reason,
                override=form.cleaned_data["override"],
            )
        messages.success(request, f"{version.name} is now the active model.")
    except ModelVersionActivationRisky as exc:
        messages.error(request, f"{exc.messages[0]} Tick the override box to activate it anyway.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect("training:models")


@login_required
@require_POST
def model_version_rollback(request: HttpRequest) -> HttpResponse:
    """One action: back to the version that was active before the current one."""
    registry_selectors.model_version_list_for_user(user=request.user)
    try:
        version = registry_services.model_version_rollback(user=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"Rolled back to {version.name}.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect("training:models")


@login_required
@require_POST
def model_version_reread(request: HttpRequest, model_version_id: int) -> HttpResponse:
    version = registry_selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    count = model_version_reread_open_cases(model_version=version, user=request.user)
    messages.success(request, f"{count} radiograph(s) of open cases queued for {version.name}.")
    return redirect("training:models")


@login_required
@require_GET
def model_version_plot(request: HttpRequest, model_version_id: int, name: str) -> HttpResponse:
    """An evaluation plot (PNG) of a version, through the same admin check as the page."""
    from django.core.files.storage import default_storage

    version = registry_selectors.model_version_get_for_user(user=request.user, model_version_id=model_version_id)
    path = ((version.metrics or {}).get("evaluation_plots") or {}).get(name)
    if not path:
        raise Http404("No such plot.")
    response = FileResponse(default_storage.open(path, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response


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
