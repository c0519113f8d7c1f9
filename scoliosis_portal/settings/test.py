"""Test profile: real PostgreSQL and Redis on this machine, files in a temp dir."""
import tempfile
from pathlib import Path

from scoliosis_portal.settings.base import *  # noqa: F401,F403
from scoliosis_portal.settings.base import STORAGES, database_tuned, env

DATABASES = {
    "default": database_tuned(env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/scoliosis")),
}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="scoliosis-media-"))
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="scoliosis-static-"))
STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Fast hashing in tests only; production keeps Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests register the model versions they need; an active default model created with the test
# database would leak into every test that does not expect one.
INFERENCE_REGISTER_DEFAULT_ON_MIGRATE = env.bool("INFERENCE_REGISTER_DEFAULT_ON_MIGRATE", default=False)
# The in-process test workers load their models inside the tests that need them.
INFERENCE_WORKER_WARM_UP = env.bool("INFERENCE_WORKER_WARM_UP", default=False)
