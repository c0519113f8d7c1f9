"""Settings for bench/platform_list.py: production-like (DEBUG off, persistent connections)
against a dedicated PostgreSQL database, with files in a scratch folder."""
from pathlib import Path

from scoliosis_portal.settings.base import *  # noqa: F401,F403
from scoliosis_portal.settings.base import BASE_DIR, STORAGES, database_tuned, env

DEBUG = False
DATABASES = {
    "default": database_tuned(env.db(
        "BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/scoliosis_bench"
    ))
}
DATABASES["default"]["CONN_MAX_AGE"] = 60
MEDIA_ROOT = Path(env.str("BENCH_MEDIA_ROOT", default=str(BASE_DIR / "var" / "bench-media")))
STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = MEDIA_ROOT.parent / "bench-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
INFERENCE_REGISTER_DEFAULT_ON_MIGRATE = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
