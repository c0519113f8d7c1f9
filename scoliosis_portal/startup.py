"""Checks a production web process makes before it serves anything."""
from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages


def static_manifest_check() -> None:
    """With manifest storage every page that links a static file answers 500 until collectstatic
    has run; refuse to start instead, saying what to do."""
    storage = storages["staticfiles"]
    if isinstance(storage, ManifestFilesMixin) and not storage.exists(storage.manifest_name):
        raise ImproperlyConfigured(
            f"Static files are missing: no {storage.manifest_name} in STATIC_ROOT "
            f"({settings.STATIC_ROOT}). Run `python manage.py collectstatic --noinput` "
            "(the Docker image does it when it is built)."
        )
