"""No 500 from user input on the review endpoints: malformed or absurd query parameters are a 400
in the API, and are ignored or refused (never a crash) on the pages."""
from __future__ import annotations

import pytest

from tests.signin import api_client_for, page_client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["min_age_days=9999999999", "max_age_days=9999999999",
                                   "min_age_days=-1", "max_age_days=abc"])
def test_queue_refuses_absurd_ages_with_400_and_the_page_still_answers(reviewer, query):
    response = api_client_for(reviewer).get(f"/api/v1/review-queue/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert page_client_for(reviewer).get(f"/inference/review/?{query}").status_code == 200


@pytest.mark.parametrize("query", ["model_version=abc", "model_version=99999999999999999999",
                                   "model_version=424242",
                                   "since=yesterday", "until=2024-13-45"])
def test_agreement_refuses_malformed_period_or_version(admin_user, query):
    response = api_client_for(admin_user).get(f"/api/v1/agreement/?{query}")
    assert response.status_code == 400
    assert page_client_for(admin_user).get(f"/inference/review/agreement/?{query}").status_code == 400


def test_agreement_still_takes_a_valid_period(admin_user):
    from tests.inference import support

    version = support.make_model_version_row()
    url = f"/api/v1/agreement/?since=2024-01-01&until=2024-12-31&model_version={version.pk}"
    response = api_client_for(admin_user).get(url)
    assert response.status_code == 200 and response.json()["compared"] == 0
