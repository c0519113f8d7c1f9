"""The promotion gate: a candidate replaces the active model only if it is not worse on the
fixed evaluation set by more than the configured margins."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.passed:
            return "Passed the promotion gate: " + "; ".join(self.reasons)
        return "Not promoted: " + "; ".join(self.reasons)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "checks": self.checks,
                "summary": self.summary}


def _margin(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _ood_failure(candidate_metrics: dict) -> str | None:
    limit = _margin("TRAINING_PROMOTION_MAX_OOD_FLAG_RATE", 0.10)
    rate = _number(candidate_metrics, "ood_flag_rate")
    if rate is not None and rate > limit + 1e-12:
        return (f"it flags {rate:.0%} of the evaluation set's spine films as out of distribution "
                f"(allowed {limit:.0%})")
    return None


def _ood_rise_failure(candidate_metrics: dict, active_metrics: dict, checks: dict) -> str | None:
    max_rise = _margin("TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE", 0.02)
    cand, act = _number(candidate_metrics, "ood_flag_rate"), _number(active_metrics, "ood_flag_rate")
    if cand is None or act is None:
        return None
    checks["ood_flag_rate"] = {"candidate": cand, "active": act, "rise": cand - act, "max_rise": max_rise}
    if cand - act > max_rise + 1e-12:
        return (f"it flags {cand:.0%} of the evaluation set's spine films as out of distribution "
                f"against the active model's {act:.0%} (allowed rise {max_rise:.0%})")
    return None


def model_version_evaluate_gate(
    *, candidate_metrics: dict, active_metrics: dict | None, labels: list[str]
) -> GateDecision:
    """Compare metrics measured on the same evaluation set.

    1. No active model (or no comparable metrics): the candidate passes.
    2. Macro-F1 may not drop by more than TRAINING_PROMOTION_MAX_F1_DROP.
    3. No class's sensitivity may drop by more than TRAINING_PROMOTION_MAX_SENSITIVITY_DROP
       (a class the evaluation set does not contain cannot be judged and is skipped).
    4. The candidate may not call more than TRAINING_PROMOTION_MAX_OOD_FLAG_RATE of the
       evaluation set (spine films, in distribution) out of distribution: such a model would
       withhold its answer on nearly every upload.
    5. Nor more than TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE above the active model's rate.
    """
    ood_failure = _ood_failure(candidate_metrics)
    if not active_metrics:
        if ood_failure:
            return GateDecision(False, [ood_failure])
        return GateDecision(True, ["no active model to compare with"])
    max_f1_drop = _margin("TRAINING_PROMOTION_MAX_F1_DROP", 0.01)
    max_sens_drop = _margin("TRAINING_PROMOTION_MAX_SENSITIVITY_DROP", 0.02)
    failures: list[str] = []
    checks: dict = {}
    cand_f1, act_f1 = _number(candidate_metrics, "macro_f1"), _number(active_metrics, "macro_f1")
    if cand_f1 is None:
        failures.append("the candidate has no macro-F1 on the evaluation set")
    elif act_f1 is not None:
        drop = act_f1 - cand_f1
        checks["macro_f1"] = {"candidate": cand_f1, "active": act_f1, "drop": drop, "max_drop": max_f1_drop}
        if drop > max_f1_drop + 1e-12:
            failures.append(
                f"macro-F1 {cand_f1:.3f} is {drop:.3f} below the active model's {act_f1:.3f} "
                f"(allowed drop {max_f1_drop:.3f})"
            )
    for label in labels:
        key = f"sensitivity_{label}"
        cand, act = _number(candidate_metrics, key), _number(active_metrics, key)
        if cand is None or act is None:
            continue
        drop = act - cand
        checks[key] = {"candidate": cand, "active": act, "drop": drop, "max_drop": max_sens_drop}
        if drop > max_sens_drop + 1e-12:
            failures.append(
                f"sensitivity for {label} {cand:.3f} is {drop:.3f} below the active model's "
                f"{act:.3f} (allowed drop {max_sens_drop:.3f})"
            )
    if ood_failure:
        failures.append(ood_failure)
    rise = _ood_rise_failure(candidate_metrics, active_metrics, checks)
    if rise:
        failures.append(rise)
    if failures:
        return GateDecision(False, failures, checks)
    f1_text = f"macro-F1 {cand_f1:.3f} vs active {act_f1:.3f}" if act_f1 is not None else "no active macro-F1"
    return GateDecision(True, [f1_text, "no class sensitivity fell beyond its margin"], checks)


def landmark_model_version_evaluate_gate(*, candidate_metrics: dict, active_metrics: dict | None) -> GateDecision:
    """Compare two landmark models measured on the same fixed evaluation films.

    1. The candidate must measure at least one evaluation film (else it has no angle error).
    2. No active landmark model (or it measured nothing): the candidate passes.
    3. Its mean absolute error of the largest angle may not exceed the active model's by more
       than TRAINING_LANDMARK_PROMOTION_MAX_MAE_RISE degrees.
    4. Its share of films measured may not fall below the active model's by more than
       TRAINING_LANDMARK_PROMOTION_MAX_MEASURED_DROP: refusing hard films must not buy a lower error.
    """
    cand_mae = _number(candidate_metrics, "largest_mae")
    cand_share = _number(candidate_metrics, "measured_share") or 0.0
    if cand_mae is None:
        n = candidate_metrics.get("n", 0)
        return GateDecision(False, [f"the candidate measured none of the {n} evaluation films"])
    active_mae = _number(active_metrics or {}, "largest_mae")
    if active_mae is None:
        why = ("no active landmark model to compare with" if not active_metrics
               else f"the active landmark model measured none of the {active_metrics.get('n', 0)} evaluation films")
        return GateDecision(True, [f"largest-angle MAE {cand_mae:.2f} deg, {cand_share:.0%} measured; {why}"])
    active_share = _number(active_metrics, "measured_share") or 0.0
    max_rise = _margin("TRAINING_LANDMARK_PROMOTION_MAX_MAE_RISE", 0.5)
    max_drop = _margin("TRAINING_LANDMARK_PROMOTION_MAX_MEASURED_DROP", 0.02)
    checks = {
        "largest_mae": {"candidate": cand_mae, "active": active_mae, "rise": cand_mae - active_mae,
                        "max_rise": max_rise},
        "measured_share": {"candidate": cand_share, "active": active_share, "drop": active_share - cand_share,
                           "max_drop": max_drop},
    }
    failures = []
    if cand_mae - active_mae > max_rise + 1e-12:
        failures.append(f"largest-angle MAE {cand_mae:.2f} deg is {cand_mae - active_mae:.2f} deg above the "
                        f"active model's {active_mae:.2f} deg (allowed rise {max_rise:.2f} deg)")
    if active_share - cand_share > max_drop + 1e-12:
        failures.append(f"it measures {cand_share:.1%} of the evaluation films against the active model's "
                        f"{active_share:.1%} (allowed drop {max_drop:.1%})")
    if failures:
        return GateDecision(False, failures, checks)
    return GateDecision(True, [f"largest-angle MAE {cand_mae:.2f} deg vs active {active_mae:.2f} deg",
                               f"{cand_share:.1%} measured vs active {active_share:.1%}"], checks)
