"""The production profile and the compose stack, checked without a docker engine."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-for-the-check",
    "DJANGO_ALLOWED_HOSTS": "spine.example.org",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_required_setting(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_stack_has_every_production_service_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("db", "redis", "minio", "web", "worker", "training-worker", "beat"):
        assert name in services, name
    for name in ("db", "redis", "minio", "web"):
        assert "healthcheck" in services[name], name
    assert "migrate" in services["web"]["command"]
    assert "gunicorn" in services["web"]["command"]
    assert "training" in services["training-worker"]["command"]


def test_env_example_documents_every_variable_the_settings_read() -> None:
    settings_src = "".join(p.read_text() for p in (ROOT / "scoliosis_portal" / "settings").glob("*.py"))
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', settings_src))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no env() calls found: the pattern is out of date"
    assert read <= documented, f"undocumented: {sorted(read - documented)}"


def test_healthz_answers_without_login(client, db) -> None:
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_embedded_broker_keeps_all_its_files_under_celery_fs_root(tmp_path) -> None:
    """The filesystem transport once wrote its exchange tables to ./control of the working folder."""
    script = (
        "import django; django.setup()\n"
        "from scoliosis_portal.celery import app\n"
        "with app.connection_for_write() as conn:\n"
        "    conn.default_channel.basic_publish(conn.default_channel.prepare_message('x'), 'celery', 'celery')\n"
        "    conn.SimpleQueue('celery').put({'probe': 1})\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev", "PYTHONPATH": str(ROOT),
           "CELERY_FS_ROOT": str(tmp_path / "fs")}
    work = tmp_path / "cwd"
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (work / "control").exists() and list(work.iterdir()) == []
    assert list((tmp_path / "fs" / "control").glob("*.exchange"))
