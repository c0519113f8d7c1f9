"""The registry's one verb: activate (by an admin with a reason, or by the platform itself),
and roll back."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from registry.models import ModelVersionStatus
from registry.selectors import model_version_get_active, model_version_list_for_user
from registry.services import model_version_activate, model_version_rollback
from tests.inference.support import make_model_version_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def active():
    return make_model_version_row(name="v1", active=True)


@pytest.fixture
def candidate():
    return make_model_version_row(name="v2", active=False)


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_only_an_admin_activates_a_model_version(request, persona, active, candidate):
    with pytest.raises(PermissionDenied):
        model_version_activate(model_version=candidate, user=request.getfixturevalue(persona), reason="why not")
    assert model_version_get_active() == active


def test_activation_needs_a_reason_and_refuses_a_failed_version(admin_user, candidate):
    with pytest.raises(ValidationError):
        model_version_activate(model_version=candidate, user=admin_user, reason="  ")
    candidate.status = ModelVersionStatus.FAILED
    candidate.save()
    with pytest.raises(ValidationError):
        model_version_activate(model_version=candidate, user=admin_user, reason="try it")


def test_admin_activation_retires_the_previous_version_and_records_who_and_why(admin_user, active, candidate):
    model_version_activate(model_version=candidate, user=admin_user, reason="better macro-F1")

    candidate.refresh_from_db()
    active.refresh_from_db()
    assert (candidate.status, candidate.activated_by, candidate.status_reason) == (
        ModelVersionStatus.ACTIVE, admin_user, "better macro-F1",
    )
    assert active.status == ModelVersionStatus.RETIRED
    assert candidate.history.first().history_change_reason == "better macro-F1"


def test_the_platform_activates_without_a_user(active, candidate):
    model_version_activate(model_version=candidate, user=None, reason="activated by the promotion gate")

    assert model_version_get_active() == candidate


def test_rollback_returns_to_the_version_active_before(admin_user, active, candidate):
    model_version_activate(model_version=candidate, user=admin_user, reason="new")

    back = model_version_rollback(user=admin_user, reason="odd answers")

    assert back == active and model_version_get_active() == active
    assert active.history.first().history_change_reason == "rollback: odd answers"


def test_outsider_cannot_roll_back_or_list_the_registry(outsider, active, candidate):
    with pytest.raises(PermissionDenied):
        model_version_rollback(user=outsider)
    with pytest.raises(PermissionDenied):
        model_version_list_for_user(user=outsider)
