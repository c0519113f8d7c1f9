"""What the platform benches share: a fresh database, migrated, an empty broker, and the
shipped model active (or, before there is one, an untrained model of the same cost).

Call after the bench has set DJANGO_SETTINGS_MODULE and DATABASE_URL for its own database."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_database(db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def fresh_schema(*, db_url: str, broker_url: str) -> None:
    """A fresh database, Django set up and the schema migrated, and an empty broker."""
    fresh_database(db_url)
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(broker_url).flushdb()


def start_training_worker(log_path: Path, name: str, nice: int | None = None) -> subprocess.Popen:
    """A solo Celery worker on the `training` queue, in its own process group, with this
    process's environment (its settings, database and broker)."""
    command = [sys.executable, "-m", "celery", "-A", "scoliosis_portal", "worker", "-P", "solo", "-Q", "training",
               "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    if nice is not None:
        command = ["nice", "-n", str(nice), *command]
    log = open(log_path, "w")
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ}, start_new_session=True, stdout=log, stderr=log)


def fresh_platform(*, db_url: str, broker_url: str, model_name: str, input_size: int) -> str:
    """Returns where the active model came from."""
    fresh_schema(db_url=db_url, broker_url=broker_url)
    from registry.services import model_version_activate, model_version_register
    from tests.inference.support import build_checkpoint_bytes

    default = ROOT / "models" / "default.pt"
    if default.is_file():
        data, source = default.read_bytes(), "models/default.pt"
    else:
        data = build_checkpoint_bytes(input_size=input_size)
        source = f"untrained EfficientNet-Lite0 ({input_size} px), same cost"
    version, _ = model_version_register(data=data, name=model_name)
    model_version_activate(model_version=version, user=None, reason="bench")
    return source
