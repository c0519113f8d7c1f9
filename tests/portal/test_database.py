"""Connection settings that the platform relies on, checked on the real PostgreSQL server."""
from __future__ import annotations

import pytest
from django.db import connection

from scoliosis_portal.settings.base import database_tuned


@pytest.mark.django_db
def test_postgresql_sessions_run_without_jit():
    # JIT compiled the review queue's query for 0.8 s on every page at 30,000 radiographs.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_jit_option_is_added_to_postgresql_only_and_keeps_other_options():
    pg = database_tuned({"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"options": "-c statement_timeout=5000"}})
    assert pg["OPTIONS"]["options"] == "-c statement_timeout=5000 -c jit=off"
    sqlite = database_tuned({"ENGINE": "django.db.backends.sqlite3"})
    assert "OPTIONS" not in sqlite
