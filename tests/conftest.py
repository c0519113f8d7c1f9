"""Personas and shared fixtures for the whole suite.

Personas (healthchecks' alice/bob/charlie idea): `clinician` owns things, `other_clinician` is the
outsider among clinicians, `reviewer` reads but does not change, `admin_user` sees everything,
`outsider` is signed in with no role, `second_reviewer` is a second reader of the same films.
Every access rule gets a test with an outsider persona. These are the suite's only personas:
app folders use them, and do not define their own.
"""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import CaseFactory, RadiographFactory, UserFactory
from tests.signin import api_client_for, sign_in


def _persona(name: str, **attributes):
    """A persona fixture: the user `UserFactory(**attributes)`, made when a test asks for `name`."""

    @pytest.fixture(name=name)
    def persona(db):
        return UserFactory(**attributes)

    return persona


clinician = _persona("clinician", username="clinician-alice", role="clinician")
other_clinician = _persona("other_clinician", username="clinician-bob", role="clinician")
reviewer = _persona("reviewer", username="reviewer-rita", role="reviewer")
second_reviewer = _persona("second_reviewer", username="reviewer-ravi", role="reviewer")
admin_user = _persona("admin_user", username="admin-ada", role="admin", is_staff=True, is_superuser=True)
outsider = _persona("outsider", username="charlie-no-role")  # signed in, but in no role


@pytest.fixture
def user(request):
    """The persona an indirect parametrization names, one test per persona:
    `@pytest.mark.parametrize("user", ["other_clinician", "outsider"], indirect=True)`."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def case(clinician):
    return CaseFactory(owner=clinician)


@pytest.fixture
def radiograph(case):
    return RadiographFactory(case=case)


@pytest.fixture
def model_version(db):
    """The active model version: a real, tiny checkpoint with random weights."""
    from tests.inference import support

    return support.make_active_model_version()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def api_as():
    """`api_as(user)`: an API client authenticated as `user` (or anonymous for None)."""
    return api_client_for


@pytest.fixture
def client_as(client):
    """`client_as(user)`: the Django test client with a session for `user` (None: anonymous), as
    the login page leaves it (admins have also entered their second factor)."""

    def make(user):
        if user is not None:
            sign_in(client, user)
        return client

    return make


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counters live in the cache; one test's requests must not throttle the next's."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium (tests/browser/chromium.py), closed after the test. A test names its
    personas and rows before `browser` (or `browser_page`), so they are made before the browser
    starts: ORM calls inside Playwright's event loop would open a database connection in another
    context that test teardown never closes."""
    from tests.browser.chromium import chromium_launched

    # Playwright's sync API runs an event loop; Django would otherwise refuse ORM calls from
    # this thread, which the live_server fixtures still need.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_launched() as chromium:
        yield chromium


@pytest.fixture
def browser_page(browser):
    page = browser.new_page()
    page.set_default_timeout(20_000)
    return page


@pytest.fixture
def clean_broker():
    """Our own Redis database (CELERY_BROKER_URL), emptied before and after the test: leftovers of
    an earlier run must not leak in, nor this test's into the next."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    yield
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def worker(clean_broker):
    """A real Celery worker on the default queue (a thread of this process, solo pool)."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from scoliosis_portal.celery import app

    def close_worker_connections(**kwargs) -> None:
        # The worker thread's own DB connection would otherwise outlive the test and block the
        # test database's teardown.
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as running:
            yield running
    finally:
        task_postrun.disconnect(close_worker_connections)


@pytest.fixture
def media_dir(settings, tmp_path):
    """A private, empty storage location for this test (to prove nothing is left behind)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with stray connections closed before it is dropped.

    Worker and live-server threads open their own connections and do not close them when they
    stop; PostgreSQL then refuses to drop the test database ("being accessed by other users")
    and the next run finds it still there.
    """
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
