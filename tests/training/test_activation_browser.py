"""An admin in real headless Chromium at 1366x768 tries to activate a two-class candidate: the
models page shows what gets worse, the activation is refused until the override box is ticked,
and the override is kept with its reason."""
from __future__ import annotations

import uuid

import pytest

from registry.models import ModelVersion, ModelVersionStatus
from tests.browser.chromium import requires_chromium
from tests.browser.pages import VIEWPORT, signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]


def _row(name: str, labels: list[str], status: str, evaluation: dict, **metrics) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name, sha256=uuid.uuid4().hex * 2, architecture="tf_efficientnet_lite0", labels=labels,
        status=status, checkpoint="checkpoints/none.pt", metrics={"evaluation": evaluation, **metrics},
    )


def test_admin_cannot_activate_a_two_class_candidate_without_ticking_the_override(live_server, admin_user, browser):
    shipped = _row("shipped", ["normal", "scoliosis", "spondylolisthesis"], ModelVersionStatus.ACTIVE,
                   {"macro_f1": 0.98, "ood_flag_rate": 0.04, "n": 270, "sensitivity_scoliosis": 0.99})
    two_class = _row("run-two-class", ["normal", "scoliosis"], ModelVersionStatus.CANDIDATE,
                     {"macro_f1": 0.5, "ood_flag_rate": 1.0, "n": 3, "sensitivity_scoliosis": 0.0},
                     gate={"passed": False, "reasons": ["macro-F1 0.500 is 0.480 below the active model's 0.980"]})
    page = signed_in_page(browser, live_server, admin_user, viewport=VIEWPORT)
    page.goto(f"{live_server.url}/training/")

    row = page.locator(f'tr[data-version="{two_class.pk}"]')
    risks = row.locator(".activation-risks")
    risks.wait_for()
    text = risks.inner_text()
    assert "drops the class spondylolisthesis" in text
    assert "failed the promotion gate" in text
    assert "100%" in text and "4%" in text  # spine films out of distribution: after, before
    assert "Macro-F1" in text and "-0.480" in text

    row.get_by_label("Reason").fill("looks fine to me")
    row.get_by_role("button", name="Activate").click()
    page.get_by_text("Tick the override box").wait_for()
    two_class.refresh_from_db()
    assert two_class.status == ModelVersionStatus.CANDIDATE

    row = page.locator(f'tr[data-version="{two_class.pk}"]')
    row.get_by_label("Reason").fill("spondylolisthesis is read elsewhere from now on")
    row.get_by_label("Override: activate despite what gets worse").check()
    row.get_by_role("button", name="Activate").click()
    page.get_by_text("run-two-class is now the active model.").wait_for()

    two_class.refresh_from_db()
    shipped.refresh_from_db()
    assert two_class.status == ModelVersionStatus.ACTIVE and shipped.status == ModelVersionStatus.RETIRED
    assert two_class.history.first().history_change_reason.startswith("override: spondylolisthesis is read")
    assert "drops the class spondylolisthesis" in two_class.status_reason
