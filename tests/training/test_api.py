"""The registry and training-run API: admins only, with outsider tests on every endpoint."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from registry import services as registry_services
from registry.models import ModelVersion, ModelVersionStatus
from registry.selectors import model_version_get_active
from training.models import TrainingRun, TrainingRunStatus
from training.runs import services

pytestmark = pytest.mark.django_db


def endpoints(versions, run):
    active, candidate = versions
    return [
        ("get", "/api/v1/models/", None),
        ("get", f"/api/v1/models/{candidate.pk}/", None),
        ("post", f"/api/v1/models/{candidate.pk}/activate/", {"reason": "better"}),
        ("post", f"/api/v1/models/{candidate.pk}/rollback/", {}),
        ("post", f"/api/v1/models/{candidate.pk}/reread-open-cases/", {}),
        ("get", "/api/v1/training-runs/", None),
        ("post", "/api/v1/training-runs/", {}),
        ("get", f"/api/v1/training-runs/{run.pk}/", None),
        ("post", f"/api/v1/training-runs/{run.pk}/cancel/", {}),
    ]


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_non_admins_are_refused_on_every_endpoint(request, persona, api_as, versions, run):
    user = request.getfixturevalue(persona)
    client = api_as(user)
    for method, url, body in endpoints(versions, run):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (persona, method, url, response.status_code)
    active, candidate = versions
    assert model_version_get_active() == active
    assert TrainingRun.objects.count() == 1
    assert TrainingRun.objects.get().status == TrainingRunStatus.QUEUED


def test_anonymous_is_refused_on_every_endpoint(api_client, versions, run):
    for method, url, body in endpoints(versions, run):
        response = getattr(api_client, method)(url, body, format="json")
        assert response.status_code == 401, (method, url, response.status_code)


def test_admin_lists_versions_with_status_and_metrics(api_as, admin_user, versions):
    response = api_as(admin_user).get("/api/v1/models/")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    assert rows["v-active"]["status"] == "active" and "metrics" in rows["v-active"]
    assert rows["v-candidate"]["status"] == "candidate"


def test_activation_needs_a_reason(api_as, admin_user, versions):
    active, candidate = versions
    response = api_as(admin_user).post(f"/api/v1/models/{candidate.pk}/activate/", {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert model_version_get_active() == active


def test_admin_activation_is_audited(api_as, admin_user, versions):
    active, candidate = versions
    response = api_as(admin_user).post(
        f"/api/v1/models/{candidate.pk}/activate/", {"reason": "reviewed the evaluation by hand"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    candidate.refresh_from_db()
    assert candidate.activated_by == admin_user
    assert candidate.status_reason == "reviewed the evaluation by hand"
    record = candidate.history.first()
    assert record.status == "active" and record.history_change_reason.startswith("reviewed")
    active.refresh_from_db()
    assert active.status == ModelVersionStatus.RETIRED


def test_rollback_in_one_action_and_only_to_an_earlier_version(api_as, admin_user, versions):
    active, candidate = versions
    client = api_as(admin_user)
    # A never-active candidate is not a rollback target.
    assert client.post(f"/api/v1/models/{candidate.pk}/rollback/", {}, format="json").status_code == 400
    registry_services.model_version_activate(model_version=candidate, user=admin_user, reason="try it")
    response = client.post(f"/api/v1/models/{active.pk}/rollback/", {"reason": "worse on ward"}, format="json")
    assert response.status_code == 200, response.json()
    assert model_version_get_active() == active
    active.refresh_from_db()
    assert active.status_reason == "rollback: worse on ward"


def test_admin_starts_run_and_reads_its_state(api_as, admin_user, versions, base_data, settings,
                                              django_capture_on_commit_callbacks):
    settings.TRAINING_DEFAULT_HYPERPARAMETERS = {}  # the shipped recipe's defaults
    client = api_as(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/api/v1/training-runs/", {"hyperparameters": {"epochs": 3}}, format="json")
    assert response.status_code == 202, response.json()
    assert len(callbacks) == 1  # the task is sent only after the commit
    body = response.json()
    assert body["status"] == "queued" and body["progress"] == 0.0
    assert body["hyperparameters"]["epochs"] == 3
    assert body["hyperparameters"]["start_from"] == "base"  # fine-tune the base by default
    assert body["base_model_version"] == versions[0].pk
    detail = client.get(f"/api/v1/training-runs/{body['id']}/").json()
    for key in ("status", "progress", "epoch", "metrics", "log_tail"):
        assert key in detail


def test_out_of_bounds_hyperparameters_are_refused(api_as, admin_user, versions):
    response = api_as(admin_user).post(
        "/api/v1/training-runs/", {"hyperparameters": {"epochs": 5000, "dropout": 1}}, format="json"
    )
    assert response.status_code == 400
    assert TrainingRun.objects.count() == 0


def test_start_from_must_be_base_or_imagenet(api_as, admin_user, versions, base_data):
    client = api_as(admin_user)
    response = client.post("/api/v1/training-runs/", {"hyperparameters": {"start_from": "scratch"}}, format="json")
    assert response.status_code == 400
    assert "base, imagenet" in str(response.json())
    response = client.post("/api/v1/training-runs/", {"hyperparameters": {"start_from": "imagenet"}}, format="json")
    assert response.status_code == 202 and response.json()["hyperparameters"]["start_from"] == "imagenet"


def test_second_run_while_one_is_live_is_refused(api_as, admin_user, run):
    response = api_as(admin_user).post("/api/v1/training-runs/", {}, format="json")
    assert response.status_code == 409
    assert f"run #{run.pk}" in response.json()["error"]["message"]
    assert TrainingRun.objects.count() == 1


def test_database_refuses_a_second_live_run_even_without_the_service(admin_user, run):
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(started_by=admin_user, status=TrainingRunStatus.RUNNING)


def test_cancel_queued_run_frees_the_slot(api_as, admin_user, run, django_capture_on_commit_callbacks):
    client = api_as(admin_user)
    response = client.post(f"/api/v1/training-runs/{run.pk}/cancel/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/training-runs/{run.pk}/cancel/", {}, format="json").status_code == 409
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/api/v1/training-runs/", {}, format="json").status_code == 202


def test_cancelled_run_task_claims_nothing(admin_user, run):
    services.training_run_cancel(training_run=run, user=admin_user)
    result = services.training_run_execute(training_run_id=run.pk, task_id="late-message")
    assert result.status == TrainingRunStatus.CANCELLED
    assert not ModelVersion.objects.filter(training_run=run).exists()


def test_running_run_cancel_sets_flag(admin_user, run):
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRunStatus.RUNNING)
    run = services.training_run_cancel(training_run=run, user=admin_user)
    assert run.status == TrainingRunStatus.RUNNING and run.cancel_requested


def test_silent_running_run_is_abandoned_on_cancel(admin_user, run, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.TRAINING_STALE_AFTER_SECONDS = 60
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRunStatus.RUNNING, updated_at=timezone.now() - timedelta(hours=1)
    )
    run = services.training_run_cancel(training_run=run, user=admin_user)
    assert run.status == TrainingRunStatus.FAILED and "stopped reporting" in run.error


def test_service_refuses_non_admin_start(clinician):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.training_run_start(user=clinician)
