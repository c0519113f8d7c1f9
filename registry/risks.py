"""What would get worse if a candidate replaced the active model: the check behind every
activation (the models page, the API and a training run's automatic promotion).

A candidate that drops a class, failed the promotion gate, or calls more of the spine films
out of distribution than the active model by more than the margin is risky: activating it needs
an explicit override with a reason (registry.services.model_version_activate). Rolling back to a
version that was active before is not checked: it served the clinic already.

Reads only what the registry stores: the label sets, the metrics each version was registered
with, and the gate decision a training run recorded on its candidate (`metrics["gate"]`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError

from registry.models import ModelVersion

# Metrics shown side by side before an activation, in this order (sensitivities follow).
COMPARED_METRICS = ["macro_f1", "accuracy", "balanced_accuracy", "ece", "ood_flag_rate"]
# Lower is better for these.
LOWER_IS_BETTER = {"ece", "ood_flag_rate"}


@dataclass(frozen=True)
class ActivationRisk:
    kind: str  # "classes_lost" | "gate_failed" | "ood_rise"
    message: str


@dataclass(frozen=True)
class MetricDelta:
    key: str
    active: float | None
    candidate: float | None

    @property
    def delta(self) -> float | None:
        if self.active is None or self.candidate is None:
            return None
        return self.candidate - self.active

    @property
    def worse(self) -> bool:
        d = self.delta
        if d is None:
            return False
        return d > 1e-9 if self.key in LOWER_IS_BETTER else d < -1e-9


@dataclass(frozen=True)
class ActivationReview:
    candidate: ModelVersion
    active: ModelVersion | None
    risks: list[ActivationRisk] = field(default_factory=list)
    deltas: list[MetricDelta] = field(default_factory=list)
    classes_lost: list[str] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)
    ood_before: float | None = None
    ood_after: float | None = None
    same_evaluation_set: bool = False

    @property
    def needs_override(self) -> bool:
        return bool(self.risks)

    def as_dict(self) -> dict:
        return {
            "candidate": self.candidate.pk,
            "active": self.active.pk if self.active else None,
            "needs_override": self.needs_override,
            "risks": [{"kind": r.kind, "message": r.message} for r in self.risks],
            "classes_lost": self.classes_lost,
            "gate_failures": self.gate_failures,
            "ood_flag_rate": {"active": self.ood_before, "candidate": self.ood_after},
            "metric_deltas": [
                {"metric": d.key, "active": d.active, "candidate": d.candidate, "delta": d.delta}
                for d in self.deltas
            ],
            "same_evaluation_set": self.same_evaluation_set,
        }


class ModelVersionActivationRisky(ValidationError):
    """Activation refused: the candidate is risky and no override was given."""

    def __init__(self, review: ActivationReview):
        self.review = review
        super().__init__(
            f"{review.candidate.name} would make things worse than {review.active.name}: "
            + "; ".join(r.message for r in review.risks)
            + ". Activate it only with an override and a reason."
        )


def _number(metrics: dict, key: str) -> float | None:
    value = (metrics or {}).get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _evaluation(version: ModelVersion) -> dict:
    return (version.metrics or {}).get("evaluation") or {}


def _active_metrics(candidate: ModelVersion, active: ModelVersion) -> tuple[dict, bool]:
    """The active model's metrics to compare with: measured on the candidate's own evaluation
    set when the candidate's run evaluated this active model (same images), else the metrics
    the active version was registered with."""
    compared = (candidate.metrics or {}).get("compared_with") or {}
    if compared.get("id") == active.pk and compared.get("metrics"):
        return compared["metrics"], True
    return _evaluation(active), False


def _gate_failures(candidate: ModelVersion) -> list[str]:
    gate = (candidate.metrics or {}).get("gate")
    if isinstance(gate, dict):
        return [] if gate.get("passed") else list(gate.get("reasons") or ["it failed the promotion gate"])
    # Candidates registered before the gate was stored say so in their status reason.
    reason = candidate.status_reason or ""
    return [reason.removeprefix("Not promoted: ")] if reason.startswith("Not promoted:") else []


def _ood_risk(before: float | None, after: float | None) -> ActivationRisk | None:
    rise_allowed = float(getattr(settings, "TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE", 0.02))
    ceiling = float(getattr(settings, "TRAINING_PROMOTION_MAX_OOD_FLAG_RATE", 0.10))
    if after is None:
        return None
    if before is not None and after - before > rise_allowed + 1e-12:
        return ActivationRisk("ood_rise", (
            f"it calls {after:.0%} of spine films out of distribution against {before:.0%} now "
            f"(allowed rise {rise_allowed:.0%}, TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE)"))
    if before is None and after > ceiling + 1e-12:
        return ActivationRisk("ood_rise", (
            f"it calls {after:.0%} of spine films out of distribution "
            f"(allowed {ceiling:.0%}, TRAINING_PROMOTION_MAX_OOD_FLAG_RATE)"))
    return None


def model_version_activation_risks(*, candidate: ModelVersion, active: ModelVersion | None) -> ActivationReview:
    """What gets worse if `candidate` replaces `active`: classes lost, gate failures, the spine
    films' out-of-distribution rate before and after, and the metric deltas."""
    if active is None or active.pk == candidate.pk:
        return ActivationReview(candidate=candidate, active=active)
    cand_metrics = _evaluation(candidate)
    act_metrics, same_set = _active_metrics(candidate, active)
    lost = [label for label in active.labels if label not in set(candidate.labels)]
    gate_failures = _gate_failures(candidate)
    before, after = _number(act_metrics, "ood_flag_rate"), _number(cand_metrics, "ood_flag_rate")
    risks: list[ActivationRisk] = []
    if lost:
        risks.append(ActivationRisk("classes_lost", (
            f"it drops the class{'es' if len(lost) > 1 else ''} {', '.join(lost)} "
            f"({len(candidate.labels)} classes instead of {len(active.labels)})")))
    if gate_failures:
        risks.append(ActivationRisk("gate_failed", "it failed the promotion gate: " + "; ".join(gate_failures)))
    ood = _ood_risk(before, after)
    if ood is not None:
        risks.append(ood)
    keys = COMPARED_METRICS + sorted(
        {k for k in (*cand_metrics, *act_metrics) if k.startswith("sensitivity_")})
    deltas = [MetricDelta(k, _number(act_metrics, k), _number(cand_metrics, k)) for k in keys
              if k in cand_metrics or k in act_metrics]
    return ActivationReview(
        candidate=candidate, active=active, risks=risks, deltas=deltas, classes_lost=lost,
        gate_failures=gate_failures, ood_before=before, ood_after=after, same_evaluation_set=same_set,
    )
