"""Settings for a worker started as a subprocess by the tests (killed-worker redelivery).

It shares the test process's database and media folder (passed by environment), and uses a
short broker visibility timeout so that a killed worker's unacknowledged message comes back
within seconds instead of the production hour.
"""
import os
import time
from pathlib import Path

from scoliosis_portal.settings.test import *  # noqa: F401,F403
from scoliosis_portal.settings.test import STORAGES

MEDIA_ROOT = Path(os.environ["TEST_MEDIA_ROOT"])
STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("TEST_VISIBILITY_TIMEOUT", "4")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
INFERENCE_REGISTER_DEFAULT_ON_MIGRATE = False

_slow = float(os.environ.get("TEST_SLOW_MODEL_LOAD_SECONDS", "0"))
if _slow:
    # Test-only: keep the task inside its run long enough for the test to kill the worker.
    import inference.runtime as _runtime

    _original = _runtime.predictor_for

    def _slow_predictor_for(model_version):
        time.sleep(_slow)
        return _original(model_version)

    _runtime.predictor_for = _slow_predictor_for
