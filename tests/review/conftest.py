# The review tests use the inference tests' personas and objects (one definition, not a copy).
from tests.inference.conftest import (  # noqa: F401
    admin_user,
    case,
    clinician,
    model_version,
    other_clinician,
    outsider,
    reviewer,
    second_reviewer,
)
