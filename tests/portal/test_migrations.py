"""The registry and reviews apps took their models over with state-only migrations. Proof on the
real PostgreSQL server: a database at the schema `main` had before the move (cases 0001,
inference 0001, training 0002), with rows in every table of the moved models, their history
tables and the tables pointing at them, migrates forward with every row, value and foreign key
as it was."""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

# The leaf migrations of main before the move.
BEFORE_MOVE = [
    ("cases", "0001_initial"),
    ("inference", "0001_initial"),
    ("training", "0002_historicaltrainingrun_trainingrun_and_more"),
    ("registry", None),
    ("reviews", None),
]
TABLES = [
    "cases_case", "cases_historicalcase", "cases_radiograph", "cases_historicalradiograph",
    "cases_review", "cases_historicalreview", "training_modelversion",
    "training_historicalmodelversion", "training_trainingrun", "training_historicaltrainingrun",
    "inference_prediction",
]
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _history_of(apps, app_label: str, model_name: str, row, user) -> None:
    """The history row simple_history would have written for `row` ("created")."""
    historical = apps.get_model(app_label, f"Historical{model_name}")
    values = {}
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        values[field.attname] = getattr(value, "name", value) if field.get_internal_type() == "FileField" else value
    historical.objects.create(
        **values, history_date=NOW, history_type="+", history_user_id=user.pk,
        history_change_reason="before the move",
    )


def _seed_before_move(apps) -> None:
    user = apps.get_model("auth", "User").objects.create(username="dr-old", password="!")
    case = apps.get_model("cases", "Case").objects.create(patient_reference="MRN-1", owner=user)
    _history_of(apps, "cases", "Case", case, user)
    radiograph = apps.get_model("cases", "Radiograph").objects.create(
        case=case, image="radiographs/a.png", source_format="png", content_type="image/png",
        sha256="a" * 64, size_bytes=10, width=4, height=8, uploaded_by=user,
        confirmed_label="scoliosis", confirmed_at=NOW, adjudicated_by=user,
    )
    _history_of(apps, "cases", "Radiograph", radiograph, user)
    review = apps.get_model("cases", "Review").objects.create(
        radiograph=radiograph, reviewer=user, label="scoliosis", blind=True
    )
    _history_of(apps, "cases", "Review", review, user)
    version_model = apps.get_model("training", "ModelVersion")
    base = version_model.objects.create(
        name="default", checkpoint="checkpoints/a.pt", sha256="b" * 64, architecture="lite0",
        labels=["normal", "scoliosis"], input_size=[256, 256], status="active",
        activated_by=user, activated_at=NOW,
    )
    _history_of(apps, "training", "ModelVersion", base, user)
    run = apps.get_model("training", "TrainingRun").objects.create(
        status="succeeded", base_model_version=base, started_by=user, hyperparameters={"epochs": 1}
    )
    _history_of(apps, "training", "TrainingRun", run, user)
    trained = version_model.objects.create(
        name="run-1", checkpoint="checkpoints/b.pt", sha256="c" * 64, architecture="lite0",
        labels=["normal", "scoliosis"], training_run=run,
    )
    _history_of(apps, "training", "ModelVersion", trained, user)
    apps.get_model("inference", "Prediction").objects.create(
        radiograph=radiograph, model_version=base, status="succeeded", label="scoliosis",
        probabilities={"scoliosis": 0.9, "normal": 0.1}, confidence=0.9,
    )
    # The content types as main had them (post_migrate made today's labels in the test database).
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="registry").update(app_label="training")
    content_type.objects.filter(app_label="reviews").update(app_label="cases")


def _columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table)]


def _snapshot(columns: dict[str, list[str]]) -> dict:
    """Rows (of the given columns: later migrations may add columns) and foreign keys."""
    rows, foreign_keys = {}, {}
    with connection.cursor() as cursor:
        for table in TABLES:
            names = ", ".join(connection.ops.quote_name(c) for c in columns[table])
            cursor.execute(f"SELECT {names} FROM {table} ORDER BY 1")  # noqa: S608 - fixed names
            rows[table] = cursor.fetchall()
            constraints = connection.introspection.get_constraints(cursor, table)
            foreign_keys[table] = sorted(
                (name, tuple(c["columns"]), c["foreign_key"])
                for name, c in constraints.items()
                if c["foreign_key"] and set(c["columns"]) <= set(columns[table])
            )
    return {"rows": rows, "foreign_keys": foreign_keys}


def test_a_database_from_before_the_move_migrates_forward_with_every_row_and_foreign_key():
    _migrate(BEFORE_MOVE)
    try:
        old_apps = MigrationExecutor(connection).loader.project_state(BEFORE_MOVE[:3]).apps
        _seed_before_move(old_apps)
        columns = {table: _columns(table) for table in TABLES}
        before = _snapshot(columns)
        assert all(before["rows"][table] for table in TABLES), "every table has a row to lose"
    finally:
        _migrate(_leaves())

    after = _snapshot(columns)
    assert after == before
    with connection.cursor() as cursor:
        # Every model version from before model kinds existed is a classifier.
        cursor.execute("SELECT DISTINCT kind FROM training_modelversion")
        assert cursor.fetchall() == [("classifier",)]

    from django.contrib.contenttypes.models import ContentType

    from inference.models import Prediction
    from registry.models import ModelVersion
    from reviews.models import Review
    from training.models import TrainingRun

    prediction = Prediction.objects.select_related("model_version").get()
    assert prediction.model_version.name == "default"
    run = TrainingRun.objects.get()
    assert run.base_model_version == prediction.model_version
    assert ModelVersion.objects.get(name="run-1").training_run == run
    assert run.model_version.name == "run-1"
    review = Review.objects.select_related("radiograph__case").get()
    assert review.radiograph.case.patient_reference == "MRN-1" and review.blind
    assert [h.history_change_reason for h in ModelVersion.history.all()] == ["before the move"] * 2
    assert Review.history.get().label == "scoliosis"
    assert set(ContentType.objects.filter(model__in=["modelversion", "review"]).values_list(
        "app_label", "model")) == {("registry", "modelversion"), ("reviews", "review")}
