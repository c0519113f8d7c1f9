from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_engines_import_without_django():
    """The engines must work in a notebook: importing them never loads Django."""
    code = (
        "import sys, inference.engine, training.engine; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'rest_framework', 'cases')]; "
        "assert not bad, bad"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=120)
