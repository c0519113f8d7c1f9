"""The embedded profile of `make run`: its own error pages unless DJANGO_DEBUG=true, and a queue
per kind of work so that a worker can be given to each (scripts/run_embedded.sh starts two)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.template.loader import get_template

from scoliosis_portal.celery import app

ROOT = Path(__file__).resolve().parents[2]


def _dev_debug(tmp_path, **extra: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev", "PYTHONPATH": str(ROOT),
           "CELERY_FS_ROOT": str(tmp_path / "fs"), **extra}
    script = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_embedded_profile_shows_the_site_error_pages_unless_debug_is_asked_for(tmp_path):
    assert _dev_debug(tmp_path) == "False"
    assert _dev_debug(tmp_path, DJANGO_DEBUG="true") == "True"


def test_server_error_pages_render_without_a_request():
    assert "Something went wrong" in get_template("500.html").render({})
    assert "Bad request" in get_template("400.html").render({})


def test_predictions_and_training_runs_go_to_separate_queues():
    def queue_of(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert queue_of("inference.tasks.prediction_run") == "inference"
    assert queue_of("training.tasks.training_run_execute") == "training"


def test_make_run_starts_one_worker_per_queue_on_the_chosen_port():
    script = (ROOT / "scripts" / "run_embedded.sh").read_text()
    assert "-Q inference" in script and "-Q training" in script
    assert "-Q celery" not in script and "celery,training" not in script
    assert '"127.0.0.1:$PORT"' in script
    assert "PORT=$(PORT)" in (ROOT / "Makefile").read_text()
