"""Embedded profile for `make run`: SQLite, filesystem broker, local disk.

DEBUG stays off unless DJANGO_DEBUG=true, so that a clinic trying the one-command install sees
the site's own error pages, never Django's debug pages (which show settings and source).
"""
from scoliosis_portal.settings.base import *  # noqa: F401,F403
from scoliosis_portal.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
