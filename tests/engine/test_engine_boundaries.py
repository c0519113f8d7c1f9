from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_engines_import_without_django():
    """The engines must work in a notebook: importing them never loads Django."""
    code = (
        # training.engine loads its names lazily: import every module of both engines.
        "import sys, pkgutil, importlib, inference.engine, training.engine; "
        "[importlib.import_module(f'{p.__name__}.{m.name}') for p in (inference.engine, training.engine)"
        " for m in pkgutil.iter_modules(p.__path__)]; "
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('django', 'celery', 'rest_framework', 'cases', 'registry', 'reviews', 'scoliosis_portal')]; "
        "assert not bad, bad"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=120)
