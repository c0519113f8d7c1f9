"""Embedded profile for `make run`: SQLite, filesystem broker, local disk, DEBUG on by default."""
from scoliosis_portal.settings.base import *  # noqa: F401,F403
from scoliosis_portal.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
