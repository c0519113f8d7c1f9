"""registry.risks: what the activation check compares, and where the shipped model's metrics
come from."""
from __future__ import annotations

import uuid

import pytest

from registry.models import ModelVersion, ModelVersionStatus
from registry.risks import model_version_activation_risks
from registry.services import (
    checkpoint_metrics,
    model_version_activate,
    model_version_register_default,
)

pytestmark = pytest.mark.django_db
THREE = ["normal", "scoliosis", "spondylolisthesis"]


def row(name, *, status=ModelVersionStatus.CANDIDATE, labels=THREE, **metrics) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name, sha256=uuid.uuid4().hex * 2, architecture="a", labels=labels, status=status,
        checkpoint="checkpoints/none.pt", metrics=metrics)


def test_a_candidate_no_worse_than_the_active_one_needs_no_override(admin_user):
    active = row("active", status=ModelVersionStatus.ACTIVE, evaluation={"macro_f1": 0.9, "ood_flag_rate": 0.05})
    candidate = row("cand", evaluation={"macro_f1": 0.92, "ood_flag_rate": 0.05}, gate={"passed": True})
    review = model_version_activation_risks(candidate=candidate, active=active)
    assert not review.needs_override and review.risks == []
    assert [(d.key, round(d.delta, 3)) for d in review.deltas] == [("macro_f1", 0.02), ("ood_flag_rate", 0.0)]
    model_version_activate(model_version=candidate, user=admin_user, reason="better")
    candidate.refresh_from_db()
    assert candidate.status_reason == "better"  # nothing accepted, nothing added


def test_the_active_model_measured_on_the_candidates_own_evaluation_set_is_preferred():
    active = row("active", status=ModelVersionStatus.ACTIVE, evaluation={"ood_flag_rate": 0.01})
    candidate = row("cand", evaluation={"ood_flag_rate": 0.06},
                    compared_with={"id": active.pk, "metrics": {"ood_flag_rate": 0.05}})
    review = model_version_activation_risks(candidate=candidate, active=active)
    assert review.same_evaluation_set and review.ood_before == 0.05 and not review.needs_override


def test_an_older_candidate_that_was_not_promoted_says_so_through_its_status_reason():
    active = row("active", status=ModelVersionStatus.ACTIVE)
    candidate = row("cand")
    candidate.status_reason = "Not promoted: macro-F1 0.70 is 0.20 below the active model's 0.90"
    review = model_version_activation_risks(candidate=candidate, active=active)
    assert review.gate_failures == ["macro-F1 0.70 is 0.20 below the active model's 0.90"]


def test_a_checkpoint_with_cross_validation_is_listed_with_its_pooled_out_of_fold_metrics():
    metadata = {"metrics": {"train": {"macro_f1": 1.0}}, "cross_validation": {
        "method": "5-fold CV", "metrics": {"pooled": {"macro_f1": 0.98, "n": 270, "ci95": {}}},
        "ood": {"spine_flag_rate": 0.04}}}
    metrics = checkpoint_metrics(metadata)
    assert metrics["evaluation"] == {"macro_f1": 0.98, "n": 270, "ood_flag_rate": 0.04}
    assert metrics["evaluation_source"] == "5-fold CV (pooled out-of-fold)"
    assert metrics["train"] == {"macro_f1": 1.0}


def test_the_shipped_model_registered_earlier_gets_its_metrics_on_the_next_migrate(settings):
    settings.DEFAULT_MODEL_PATH = settings.BASE_DIR / "models" / "default.pt"
    shipped = model_version_register_default()
    ModelVersion.objects.filter(pk=shipped.pk).update(metrics={"train": {"macro_f1": 1.0}})

    again = model_version_register_default()

    again.refresh_from_db()
    assert again.pk == shipped.pk and again.metrics["evaluation"]["n"] == 270
    assert again.metrics["train"] == {"macro_f1": 1.0}
