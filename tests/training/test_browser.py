"""An admin in real headless Chromium: starts a training run from the models page, watches its
progress reach 100 %, sees the candidate beside the active model, activates it with a reason
and rolls it back. A real Celery worker trains on a tiny synthetic dataset."""
from __future__ import annotations

import re

import pytest

from registry.models import ModelVersion
from tests.browser.chromium import requires_chromium
from tests.browser.pages import sign_in_through_the_form
from tests.inference import support as inference_support
from training.models import TrainingRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    requires_chromium,
]


@pytest.fixture
def active_version(transactional_db):
    return inference_support.make_active_model_version()


def test_admin_starts_run_watches_progress_activates_and_rolls_back(
    live_server, admin_user, active_version, base_data, settings, training_worker, browser_page
):
    # Hold every candidate back at the gate, so the admin's own activation is what is tested.
    settings.TRAINING_PROMOTION_MAX_F1_DROP = -2.0
    page = browser_page
    sign_in_through_the_form(page, live_server, admin_user)
    page.goto(f"{live_server.url}/training/")
    page.get_by_role("heading", name="Models and training").wait_for()

    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Input size").fill("64")
    page.get_by_label("Batch size").fill("8")
    page.get_by_role("button", name="Start a training run").click()
    page.get_by_role("heading", name=re.compile(r"Training run #\d+")).wait_for()

    # The page polls the API and reloads when the run ends.
    page.get_by_text("100 %").wait_for(timeout=180_000)
    page.locator("[data-field=status]", has_text="succeeded").wait_for()
    page.get_by_role("heading", name=re.compile("Candidate beside the active model")).wait_for()
    assert "Not promoted" in page.content()

    run = TrainingRun.objects.get()
    candidate = ModelVersion.objects.get(training_run=run)
    page.goto(f"{live_server.url}/training/?a={active_version.pk}&b={candidate.pk}")
    row = page.locator("tr", has_text=candidate.name).first
    row.get_by_label("Reason").fill("checked the evaluation by hand")
    # It failed the gate (held back above), so the page asks for the override.
    row.get_by_label("Override: activate despite what gets worse").check()
    row.get_by_role("button", name="Activate").click()
    page.get_by_text(f"{candidate.name} is now the active model.").wait_for()
    candidate.refresh_from_db()
    assert candidate.status == "active" and candidate.activated_by == admin_user

    page.get_by_role("button", name="Roll back to the previous active version").click()
    page.get_by_text(f"Rolled back to {active_version.name}.").wait_for()
    active_version.refresh_from_db()
    assert active_version.status == "active"
