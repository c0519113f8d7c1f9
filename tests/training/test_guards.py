"""Retraining cannot quietly make things worse (issue 12, point 5): a run refuses too little
data, a risky candidate needs an override that is recorded, automatic activation is off by
default, and clinicians are told when the model changes. Page and API, as the admin."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import ModelVersion, ModelVersionStatus
from registry.selectors import model_version_get_active
from registry.services import model_version_activate, model_version_rollback
from tests.training import support
from training.models import TrainingRun, TrainingRunStatus
from training.runs import services

pytestmark = pytest.mark.django_db
THREE = ["normal", "scoliosis", "spondylolisthesis"]


def version_row(name: str, *, labels=THREE, status=ModelVersionStatus.CANDIDATE, evaluation=None, **metrics):
    import uuid

    return ModelVersion.objects.create(
        name=name, sha256=uuid.uuid4().hex * 2, architecture="tf_efficientnet_lite0", labels=labels,
        status=status, checkpoint="checkpoints/none.pt",
        metrics={"evaluation": evaluation or {}, **metrics},
    )


@pytest.fixture
def shipped(db):
    return version_row("shipped", status=ModelVersionStatus.ACTIVE, evaluation={
        "macro_f1": 0.98, "accuracy": 0.985, "ood_flag_rate": 0.04, "n": 270,
        "sensitivity_normal": 0.98, "sensitivity_scoliosis": 0.99, "sensitivity_spondylolisthesis": 0.98})


@pytest.fixture
def two_class(shipped):
    """What issue 12 saw: trained on 3 films, two classes, flags every spine film."""
    return version_row("run-two-class", labels=["normal", "scoliosis"], evaluation={
        "macro_f1": 0.5, "accuracy": 0.6, "ood_flag_rate": 1.0, "n": 3,
        "sensitivity_normal": 1.0, "sensitivity_scoliosis": 0.0},
        gate={"passed": False, "reasons": ["macro-F1 0.500 is 0.480 below the active model's 0.980"]})


# --- a run refuses too little data ----------------------------------------------------------------


def test_api_refuses_a_run_when_the_base_data_folder_is_missing(api_as, admin_user, shipped, settings, tmp_path):
    settings.TRAINING_BASE_DATA_DIR = str(tmp_path / "nowhere")
    response = api_as(admin_user).post("/api/v1/training-runs/", {}, format="json")
    assert response.status_code == 400
    assert "TRAINING_BASE_DATA_DIR" in response.json()["error"]["message"]
    assert TrainingRun.objects.count() == 0


def test_page_refuses_a_run_when_the_base_data_folder_is_empty(client_as, admin_user, shipped, settings, tmp_path):
    (tmp_path / "empty").mkdir()
    settings.TRAINING_BASE_DATA_DIR = str(tmp_path / "empty")
    response = client_as(admin_user).post(reverse("training:run_start"), {
        "epochs": 2, "batch_size": 8, "learning_rate": 0.001, "input_size": 64}, follow=True)
    html = response.content.decode()
    assert "The run was not started" in html or "holds no class folder" in html
    assert "TRAINING_BASE_DATA_DIR" in html
    assert TrainingRun.objects.count() == 0
    # The page says so before anyone presses the button.
    models_page = client_as(admin_user).get(reverse("training:models")).content.decode()
    assert "A run started now would be refused" in models_page and "holds no class folder" in models_page


def test_api_refuses_a_run_with_too_few_films_per_class_and_names_the_setting(
    api_as, admin_user, shipped, settings, tmp_path
):
    settings.TRAINING_BASE_DATA_DIR = str(support.make_base_folder(tmp_path / "base", per_class=14))
    assert settings.TRAINING_MIN_FILMS_PER_CLASS == 20  # the default
    response = api_as(admin_user).post("/api/v1/training-runs/", {}, format="json")
    assert response.status_code == 400
    body = str(response.json())
    assert "TRAINING_MIN_FILMS_PER_CLASS" in body and "spondylolisthesis 14" in body
    assert TrainingRun.objects.count() == 0


def test_a_class_of_the_base_model_missing_from_the_data_refuses_the_run(
    client_as, admin_user, shipped, settings, tmp_path
):
    settings.TRAINING_BASE_DATA_DIR = str(
        support.make_base_folder(tmp_path / "base", per_class=20, labels=["normal", "scoliosis"]))
    response = client_as(admin_user).post(reverse("training:run_start"), {
        "epochs": 2, "batch_size": 8, "learning_rate": 0.001, "input_size": 64}, follow=True)
    assert "spondylolisthesis 0 (0 base, 0 confirmed)" in response.content.decode()
    assert TrainingRun.objects.count() == 0


def test_confirmed_films_count_towards_the_minimum(admin_user, shipped, settings, tmp_path, clinician,
                                                   django_capture_on_commit_callbacks):
    from tests.inference import support as inference_support

    settings.TRAINING_BASE_DATA_DIR = str(support.make_base_folder(tmp_path / "base", per_class=20))
    settings.TRAINING_MIN_FILMS_PER_CLASS = 21
    with pytest.raises(Exception, match="TRAINING_MIN_FILMS_PER_CLASS"):
        services.training_run_start(user=admin_user)
    case = inference_support.make_case(clinician)
    for seed, label in enumerate(THREE):
        radiograph = inference_support.make_radiograph(case, seed=seed)
        radiograph.confirmed_label = label
        radiograph.burned_in_cleared_at = timezone.now()  # training may use it
        radiograph.save()
    with django_capture_on_commit_callbacks(execute=False):
        assert services.training_run_start(user=admin_user).status == TrainingRunStatus.QUEUED


def test_a_run_without_validation_films_fails_with_the_reason(admin_user, shipped, settings, tmp_path,
                                                              django_capture_on_commit_callbacks):
    """The guard inside the run: a hold-out too small to give every class a validation film."""
    settings.TRAINING_BASE_DATA_DIR = str(support.make_base_folder(tmp_path / "base", per_class=20))
    settings.TRAINING_BASE_EVALUATION_SHARE = 0.3
    with django_capture_on_commit_callbacks(execute=False):
        run = services.training_run_start(
            user=admin_user, hyperparameters={"validation_fraction": 0.05, "start_from": "imagenet"})

    done = services.training_run_execute(training_run_id=run.pk, task_id="in-test")

    assert done.status == TrainingRunStatus.FAILED
    assert done.error.startswith("No validation films") and "validation_fraction" in done.error
    assert not ModelVersion.objects.filter(training_run=done).exists()
    assert model_version_get_active() == shipped


def test_data_that_shrank_after_the_start_fails_the_run_with_a_readable_message(
    admin_user, shipped, base_data, settings, tmp_path, django_capture_on_commit_callbacks
):
    """The run checks its data again: a folder swapped for a one-class one fails it, readably."""
    with django_capture_on_commit_callbacks(execute=False):
        run = services.training_run_start(user=admin_user)
    settings.TRAINING_BASE_DATA_DIR = str(support.make_base_folder(tmp_path / "one", labels=["normal"]))

    done = services.training_run_execute(training_run_id=run.pk, task_id="in-test")

    assert done.status == TrainingRunStatus.FAILED
    assert "at least two classes" in done.error
    assert model_version_get_active() == shipped


def test_the_platform_refuses_a_validation_fraction_of_zero(api_as, admin_user, shipped, base_data):
    response = api_as(admin_user).post(
        "/api/v1/training-runs/", {"hyperparameters": {"validation_fraction": 0.0}}, format="json")
    assert response.status_code == 400 and "validation_fraction" in str(response.json())


# --- a risky candidate needs an override -------------------------------------------------------------


def test_api_refuses_a_two_class_candidate_without_override_and_says_what_gets_worse(api_as, admin_user, two_class):
    client = api_as(admin_user)
    preview = client.get(f"/api/v1/models/{two_class.pk}/activation-risks/").json()
    assert preview["needs_override"] and preview["classes_lost"] == ["spondylolisthesis"]
    assert preview["ood_flag_rate"] == {"active": 0.04, "candidate": 1.0}
    assert {r["kind"] for r in preview["risks"]} == {"classes_lost", "gate_failed", "ood_rise"}
    f1 = next(d for d in preview["metric_deltas"] if d["metric"] == "macro_f1")
    assert f1["delta"] == pytest.approx(-0.48)

    response = client.post(f"/api/v1/models/{two_class.pk}/activate/", {"reason": "looks fine"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert "override" in error["message"]
    assert any("spondylolisthesis" in text for text in error["fields"]["override"])
    two_class.refresh_from_db()
    assert two_class.status == ModelVersionStatus.CANDIDATE


def test_api_activates_a_two_class_candidate_with_override_and_history_keeps_the_reason(
    api_as, admin_user, two_class, shipped
):
    response = api_as(admin_user).post(
        f"/api/v1/models/{two_class.pk}/activate/",
        {"reason": "spondylolisthesis referrals go elsewhere now", "override": True}, format="json")

    assert response.status_code == 200, response.json()
    assert model_version_get_active() == two_class
    two_class.refresh_from_db()
    assert two_class.status_reason.startswith("spondylolisthesis referrals go elsewhere now [override, accepted:")
    assert "drops the class spondylolisthesis" in two_class.status_reason
    record = two_class.history.first()
    assert record.history_change_reason.startswith("override: spondylolisthesis referrals")
    assert record.history_user is None or record.history_user == admin_user
    assert record.status_reason == two_class.status_reason
    assert two_class.activated_by == admin_user


def test_page_shows_what_gets_worse_and_needs_the_override_box(client_as, admin_user, two_class, shipped):
    client = client_as(admin_user)
    html = client.get(reverse("training:models")).content.decode()
    assert "makes things worse" in html
    assert "drops the class spondylolisthesis" in html
    assert "100%" in html and "4%" in html  # out-of-distribution rate after and before
    assert "Macro-F1" in html and "-0.480" in html and "(worse)" in html
    assert 'name="override"' in html

    refused = client.post(reverse("registry:activate", args=[two_class.pk]), {"reason": "try"}, follow=True)
    assert "Tick the override box" in refused.content.decode()
    assert model_version_get_active() == shipped

    client.post(reverse("registry:activate", args=[two_class.pk]), {"reason": "try", "override": "on"})
    assert model_version_get_active() == two_class


def test_a_candidate_that_failed_the_gate_needs_an_override(admin_user, shipped):
    candidate = version_row("run-worse", evaluation={"macro_f1": 0.95, "ood_flag_rate": 0.04},
                            gate={"passed": False, "reasons": ["macro-F1 0.950 is 0.030 below"]})
    with pytest.raises(Exception, match="failed the promotion gate"):
        model_version_activate(model_version=candidate, user=admin_user, reason="why not")
    assert model_version_get_active() == shipped


def test_a_candidate_that_raises_the_outlier_rate_beyond_the_margin_needs_an_override(admin_user, shipped, settings):
    settings.TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE = 0.02
    within = version_row("run-within", evaluation={"macro_f1": 0.98, "ood_flag_rate": 0.055},
                         gate={"passed": True, "reasons": []})
    beyond = version_row("run-beyond", evaluation={"macro_f1": 0.98, "ood_flag_rate": 0.07},
                         gate={"passed": True, "reasons": []})
    with pytest.raises(Exception, match="TRAINING_PROMOTION_MAX_OOD_FLAG_RATE_RISE"):
        model_version_activate(model_version=beyond, user=admin_user, reason="same F1")
    model_version_activate(model_version=within, user=admin_user, reason="same F1, small rise")
    assert model_version_get_active() == within


def test_rolling_back_to_an_earlier_version_is_not_blocked(admin_user, shipped, two_class):
    model_version_activate(model_version=two_class, user=admin_user, reason="trial", override=True)
    shipped.refresh_from_db()
    back = model_version_rollback(user=admin_user, model_version=shipped, reason="trial over")
    assert back == shipped and model_version_get_active() == shipped
    # A rollback is never checked: even a version with fewer classes than the active one, which
    # was active before, goes back in one action, without an override.
    two_class.refresh_from_db()
    model_version_rollback(user=admin_user, model_version=two_class, reason="again")
    assert model_version_get_active() == two_class


# --- automatic activation is off by default ------------------------------------------------------------


@pytest.mark.slow
def test_a_passing_candidate_is_not_activated_by_default(
    admin_user, base_data, random_active_model, settings, django_capture_on_commit_callbacks
):
    assert settings.TRAINING_AUTO_ACTIVATE is False  # the default
    with django_capture_on_commit_callbacks(execute=False):
        run = services.training_run_start(user=admin_user, hyperparameters={"start_from": "imagenet"})

    done = services.training_run_execute(training_run_id=run.pk, task_id="in-test")

    assert done.status == TrainingRunStatus.SUCCEEDED, done.error
    assert done.evaluation["gate"]["passed"] and done.evaluation["promoted"] is False
    assert "automatic activation is off (TRAINING_AUTO_ACTIVATE)" in done.log_tail
    candidate = ModelVersion.objects.get(training_run=done)
    assert candidate.status == ModelVersionStatus.CANDIDATE
    assert candidate.metrics["gate"]["passed"] is True
    assert model_version_get_active() == random_active_model


# --- clinicians are told --------------------------------------------------------------------------------


def test_clinician_sees_a_dated_notice_with_the_reason_when_the_model_changes(
    client_as, clinician, admin_user, shipped, two_class
):
    model_version_activate(model_version=two_class, user=admin_user, reason="new ward protocol", override=True)
    html = client_as(clinician).get(reverse("cases:case_list")).content.decode()
    assert "The model that reads radiographs changed" in html
    assert "run-two-class" in html and "new ward protocol" in html
    two_class.refresh_from_db()
    assert timezone.localtime(two_class.activated_at).strftime("%Y-%m-%d %H:%M") in html


def test_notice_ends_after_its_days_and_is_for_clinicians_only(
    client_as, clinician, reviewer, admin_user, shipped, settings
):
    ModelVersion.objects.filter(pk=shipped.pk).update(activated_at=timezone.now() - timedelta(days=30),
                                                      status_reason="installed")
    settings.MODEL_CHANGE_NOTICE_DAYS = 14
    assert "The model that reads radiographs changed" not in client_as(clinician).get(
        reverse("cases:case_list")).content.decode()
    ModelVersion.objects.filter(pk=shipped.pk).update(activated_at=timezone.now() - timedelta(days=2))
    assert "installed" in client_as(clinician).get(reverse("cases:case_list")).content.decode()
    admin_page = client_as(admin_user).get(reverse("training:models")).content.decode()
    assert "The model that reads radiographs changed" not in admin_page


def test_the_web_count_of_a_base_folder_agrees_with_what_training_reads(tmp_path):
    """The start check counts files without torch; the run reads them with the engine."""
    from collections import Counter

    from training.engine import samples_from_folder
    from training.engine.folders import class_counts_in_folder

    root = support.make_base_folder(tmp_path / "base", per_class=3)
    (root / "ScolFinal" / "nested").mkdir(parents=True)
    (root / "ScolFinal" / "nested" / "a.JPG").write_bytes(support.png("scoliosis", 1))
    (root / "normal" / "notes.txt").write_text("not a film")
    (root / "empty").mkdir()

    counts = class_counts_in_folder(root)

    assert counts == dict(Counter(s.label for s in samples_from_folder(root)))
    assert counts == {"normal": 3, "scoliosis": 4, "spondylolisthesis": 3}
