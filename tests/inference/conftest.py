from __future__ import annotations

import pytest

from tests.inference import support


@pytest.fixture
def clinician(db):
    return support.make_user("clin-a", "clinician")


@pytest.fixture
def other_clinician(db):
    return support.make_user("clin-b", "clinician")


@pytest.fixture
def reviewer(db):
    return support.make_user("rev-a", "reviewer")


@pytest.fixture
def second_reviewer(db):
    return support.make_user("rev-b", "reviewer")


@pytest.fixture
def admin_user(db):
    return support.make_user("admin-a", "admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    return support.make_user("nobody", None)


@pytest.fixture
def model_version(db):
    return support.make_active_model_version()


@pytest.fixture
def case(clinician):
    return support.make_case(clinician)
