"""The promotion gate on explicit metrics (no model needed)."""
from __future__ import annotations

import pytest

from training.runs.gate import model_version_evaluate_gate

LABELS = ["normal", "scoliosis", "spondylolisthesis"]


def metrics(f1: float, sens: tuple[float, float, float]) -> dict:
    return {"macro_f1": f1, **{f"sensitivity_{k}": v for k, v in zip(LABELS, sens, strict=True)}}


@pytest.fixture(autouse=True)
def margins(settings):
    settings.TRAINING_PROMOTION_MAX_F1_DROP = 0.01
    settings.TRAINING_PROMOTION_MAX_SENSITIVITY_DROP = 0.02
    settings.TRAINING_PROMOTION_MAX_OOD_FLAG_RATE = 0.10


def test_candidate_passes_without_an_active_model():
    assert model_version_evaluate_gate(candidate_metrics=metrics(0.5, (0.5, 0.5, 0.5)),
                                       active_metrics=None, labels=LABELS).passed


def test_better_candidate_passes():
    decision = model_version_evaluate_gate(
        candidate_metrics=metrics(0.95, (0.95, 0.95, 0.95)),
        active_metrics=metrics(0.90, (0.90, 0.90, 0.90)), labels=LABELS)
    assert decision.passed
    assert "0.950" in decision.summary


def test_small_f1_drop_within_margin_passes():
    decision = model_version_evaluate_gate(
        candidate_metrics=metrics(0.895, (0.9, 0.9, 0.9)),
        active_metrics=metrics(0.90, (0.9, 0.9, 0.9)), labels=LABELS)
    assert decision.passed


def test_macro_f1_drop_beyond_margin_blocks_with_reason():
    decision = model_version_evaluate_gate(
        candidate_metrics=metrics(0.85, (0.9, 0.9, 0.9)),
        active_metrics=metrics(0.90, (0.9, 0.9, 0.9)), labels=LABELS)
    assert not decision.passed
    assert "macro-F1 0.850" in decision.summary and "allowed drop 0.010" in decision.summary


def test_one_class_sensitivity_drop_blocks_even_with_better_f1():
    decision = model_version_evaluate_gate(
        candidate_metrics=metrics(0.95, (0.99, 0.99, 0.85)),
        active_metrics=metrics(0.90, (0.90, 0.90, 0.90)), labels=LABELS)
    assert not decision.passed
    assert "sensitivity for spondylolisthesis" in decision.summary


def test_margins_come_from_settings(settings):
    settings.TRAINING_PROMOTION_MAX_F1_DROP = 0.10
    decision = model_version_evaluate_gate(
        candidate_metrics=metrics(0.85, (0.9, 0.9, 0.9)),
        active_metrics=metrics(0.90, (0.9, 0.9, 0.9)), labels=LABELS)
    assert decision.passed


def test_class_missing_from_evaluation_set_is_skipped_not_failed():
    candidate = metrics(0.9, (0.9, 0.9, 0.9))
    active = metrics(0.9, (0.9, 0.9, 0.9))
    candidate["sensitivity_spondylolisthesis"] = None
    assert model_version_evaluate_gate(candidate_metrics=candidate, active_metrics=active, labels=LABELS).passed


def test_candidate_flagging_in_distribution_films_as_ood_is_held_back():
    candidate = {**metrics(0.99, (0.99, 0.99, 0.99)), "ood_flag_rate": 1.0}
    decision = model_version_evaluate_gate(candidate_metrics=candidate,
                                           active_metrics=metrics(0.9, (0.9, 0.9, 0.9)), labels=LABELS)
    assert not decision.passed
    assert "out of distribution" in decision.summary
    # Even with no active model to compare with.
    assert not model_version_evaluate_gate(candidate_metrics=candidate, active_metrics=None, labels=LABELS).passed


def test_equal_candidate_that_calls_more_spine_films_outliers_fails(settings):
    """Issue 12: a run no better than the active model (0.980 against 0.980) was promoted although
    its out-of-distribution rate rose."""
    settings.TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE = 0.02
    active = {**metrics(0.98, (0.98, 0.98, 0.98)), "ood_flag_rate": 0.02}
    within = {**metrics(0.98, (0.98, 0.98, 0.98)), "ood_flag_rate": 0.035}
    beyond = {**metrics(0.98, (0.98, 0.98, 0.98)), "ood_flag_rate": 0.06}
    assert model_version_evaluate_gate(candidate_metrics=within, active_metrics=active, labels=LABELS).passed
    decision = model_version_evaluate_gate(candidate_metrics=beyond, active_metrics=active, labels=LABELS)
    assert not decision.passed
    assert "against the active model's 2% (allowed rise 2%)" in decision.summary
    assert decision.checks["ood_flag_rate"]["rise"] == pytest.approx(0.04)
