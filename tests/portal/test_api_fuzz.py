"""No 500 from user input, and every answer matches the published schema.

Schemathesis reads `/api/v1/schema/` from the WSGI application in-process (no server, no
network) and sends generated requests to every operation, signed in as a clinician, a reviewer
and an admin in turn. Bounded for the suite: a few examples per operation, derandomized (the same
inputs every run), no shrinking, no example database.
"""
from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.factories import CaseFactory, RadiographFactory
from tests.inference import support
from tests.signin import sign_in

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 3
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def wsgi_app():
    """The project's WSGI handler, run inside the test's transaction. Like Django's test client,
    it must not close the connection between requests (that would end the transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def known_ids(clinician, reviewer, admin_user, media_dir) -> dict[str, int]:
    """Real objects, so that generated requests also reach existing rows (random ids mostly
    meet 404s): a case with a read film, its prediction, a model version, a training run."""
    from reviews.services import review_submit
    from training.models import TrainingRun

    version = support.make_model_version_row()
    case = CaseFactory(owner=clinician)
    radiograph = RadiographFactory(case=case, seed=1)
    prediction = support.make_finished_prediction(radiograph, version)
    review_submit(radiograph=radiograph, reviewer=reviewer, label="scoliosis")
    run = TrainingRun.objects.create(started_by=admin_user)
    return {
        "case_id": case.pk,
        "radiograph_id": radiograph.pk,
        "prediction_id": prediction.pk,
        "model_version_id": version.pk,
        "training_run_id": run.pk,
    }


def _signed_in(user) -> tuple[dict[str, str], dict[str, str]]:
    """Cookies (a session and a CSRF secret) and the matching CSRF header, so that writes are
    judged on what they say, not refused for a missing token (whatever the API token scheme)."""
    client = sign_in(Client(), user)  # admins with their second factor verified
    csrf = _get_new_csrf_string()
    cookies = {
        settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: csrf,
    }
    return cookies, {"X-CSRFToken": csrf}


def _fuzz(operation, cookies: dict[str, str], headers: dict[str, str], known_ids: dict[str, int]) -> None:
    """Generated requests to one operation: once with generated path ids, once with the ids of
    real objects."""

    def on_known_objects(case):
        if case.path_parameters:
            case.path_parameters = {
                name: known_ids.get(name, value) for name, value in case.path_parameters.items()
            }
        return case

    strategy = operation.as_strategy()
    _run(strategy, cookies, headers)
    if "{" in operation.path:
        _run(strategy.map(on_known_objects), cookies, headers)
    # Inputs that break the schema (a word for a number, a number out of range) must be refused
    # with a 4xx, never a 500.
    _run(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), cookies, headers, [not_a_server_error])


def _run(strategy, cookies: dict[str, str], headers: dict[str, str], checks=CHECKS) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case) -> None:
        response = case.call(headers=headers, cookies=cookies)
        case.validate_response(response, checks=checks, headers=headers)

    run()


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "admin_user"])
def test_api_never_answers_500_or_off_schema(request, persona, known_ids, wsgi_app):
    cookies, headers = _signed_in(request.getfixturevalue(persona))
    # The schema needs a login. Werkzeug's test client (schemathesis.openapi.from_wsgi) drops a
    # Cookie header when its own jar is empty, so the schema is read as the persona with Django's
    # client and handed to schemathesis, which then calls the same WSGI application.
    reader = Client()
    reader.cookies.load(cookies)
    raw = reader.get("/api/v1/schema/", {"format": "json"})
    assert raw.status_code == 200, raw.content[:300]
    # Django's client reconnects these on its way out; wsgi_app needs them off (one transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    schema = schemathesis.openapi.from_dict(raw.json())
    schema.app = wsgi_app
    schema.location = "/api/v1/schema/"
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _fuzz(operation, cookies, headers, known_ids)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then report
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 20  # the whole API was exercised, not an empty schema
    assert failures == [], "\n\n".join(failures)
