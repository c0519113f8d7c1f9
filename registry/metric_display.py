"""How a model version's evaluation metrics read on a page: human names and formatted values.
Shared by the registry's part of the models page and a training run's page."""
from __future__ import annotations

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


def summary_keys(metrics: dict) -> list[str]:
    """The keys of `metrics` a summary shows, in reading order (sensitivities last)."""
    return [k for k in SUMMARY_KEYS if k in metrics] + sorted(k for k in metrics if k.startswith("sensitivity_"))
