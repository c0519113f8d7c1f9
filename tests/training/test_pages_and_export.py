"""The models page, run page, export zip: admins only; what they show."""
from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from cases.models import UNGRADABLE
from tests.inference import support as inference_support
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(versions):
    """The conftest's active version and candidate, the active one with an evaluation to show."""
    active, _ = versions
    active.metrics = {"evaluation": {"macro_f1": 0.91, "accuracy": 0.93, "n": 40,
                                     "sensitivity_normal": 0.9, "confusion_matrix": [[9, 1, 0], [0, 20, 0], [0, 1, 9]]}}
    active.save()
    return versions


def page_urls(versions, run):
    active, candidate = versions
    return [
        ("get", reverse("training:models")),
        ("get", reverse("training:run_detail", args=[run.pk])),
        ("get", reverse("training:export")),
        ("post", reverse("training:run_start")),
        ("post", reverse("training:run_cancel", args=[run.pk])),
        ("post", reverse("registry:activate", args=[candidate.pk])),
        ("post", reverse("registry:rollback")),
        ("post", reverse("training:reread", args=[candidate.pk])),
        ("get", reverse("registry:plot", args=[candidate.pk, "confusion_matrix"])),
    ]


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_non_admins_are_refused_every_training_page(request, persona, client_as, versions, run):
    client = client_as(request.getfixturevalue(persona))
    for method, url in page_urls(versions, run):
        response = getattr(client, method)(url, {"reason": "x"})
        assert response.status_code == 403, (persona, url, response.status_code)
    assert TrainingRun.objects.get().status == "queued"


def test_anonymous_is_sent_to_login(client, versions, run):
    for method, url in page_urls(versions, run):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_models_page_marks_active_and_compares_side_by_side(client_as, admin_user, versions, run):
    active, candidate = versions
    response = client_as(admin_user).get(reverse("training:models"), {"a": active.pk, "b": candidate.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert "● active" in html and "v-candidate" in html
    assert "0.910" in html  # macro-F1 of the active version
    assert "Confusion matrix" in html
    assert f'data-live-run="/api/v1/training-runs/{run.pk}/"' in html


def test_admin_starts_a_run_from_the_page(client_as, admin_user, versions, base_data,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = client_as(admin_user).post(
            reverse("training:run_start"), {"epochs": 2, "batch_size": 8, "learning_rate": 0.001, "input_size": 128}
        )
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("training:run_detail", args=[run.pk])
    assert run.hyperparameters["epochs"] == 2 and run.started_by == admin_user
    page = client_as(admin_user).get(response["Location"])
    assert b"Cancel this run" in page.content


def test_export_zip_has_class_folders_and_manifest(client_as, admin_user, clinician, reviewer, versions):
    from reviews.models import Review

    case = inference_support.make_case(clinician, patient_reference="MRN-SECRET-77")
    scol = inference_support.make_radiograph(case, seed=1)
    norm = inference_support.make_radiograph(case, seed=2)
    ungradable = inference_support.make_radiograph(case, seed=3)
    unconfirmed = inference_support.make_radiograph(case, seed=4)
    for radiograph, label in ((scol, "scoliosis"), (norm, "normal"), (ungradable, UNGRADABLE)):
        radiograph.confirmed_label = label
        radiograph.save()
        Review.objects.create(radiograph=radiograph, reviewer=reviewer, label=label)
    inference_support.make_finished_prediction(scol, versions[0], label="scoliosis")

    response = client_as(admin_user).get(reverse("training:export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert f"scoliosis/{scol.pk}.png" in names and f"normal/{norm.pk}.png" in names
    assert not any(str(ungradable.pk) in n or str(unconfirmed.pk) + "." in n for n in names - {"manifest.csv"})
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    by_id = {int(r["radiograph_id"]): r for r in rows}
    assert set(by_id) == {scol.pk, norm.pk}
    assert by_id[scol.pk]["label"] == "scoliosis"
    assert by_id[scol.pk]["readers"] == f"{reviewer.get_username()}=scoliosis"
    assert by_id[scol.pk]["model_prediction"] == "scoliosis"
    assert by_id[scol.pk]["group"] == by_id[norm.pk]["group"]  # same patient, same group
    assert "MRN-SECRET-77" not in archive.read("manifest.csv").decode()


def test_models_page_shows_the_shipped_models_checkpoint_metrics_with_human_names(client_as, admin_user, settings):
    """models/default.pt carries its 5-fold cross-validation: that is what the page shows."""
    from registry.services import model_version_register_default

    settings.DEFAULT_MODEL_PATH = settings.BASE_DIR / "models" / "default.pt"
    shipped = model_version_register_default()
    assert shipped.status == "active"
    evaluation = shipped.metrics["evaluation"]
    assert evaluation["n"] == 270 and 0.9 < evaluation["macro_f1"] <= 1.0
    html = client_as(admin_user).get(reverse("training:models")).content.decode()
    row = html[html.index(f'data-version="{shipped.pk}"'):]
    row = row[:row.index("</tr>")]
    assert f"{evaluation['macro_f1']:.3f}" in row and "270" in row and "–" not in row.split("<td>")[3]
    assert "cross-validation" in row.lower() or "CV" in row
    for name in ("Macro-F1", "Sensitivity (scoliosis)", "Films evaluated"):
        assert name in html
    for raw in ("macro_f1<", "sensitivity_scoliosis<", "n 270", "5.000", "270.000"):
        assert raw not in html


def test_side_by_side_compares_a_version_with_the_active_one_never_with_itself(
    client_as, admin_user, versions
):
    active, candidate = versions
    client = client_as(admin_user)
    for query in ({}, {"a": candidate.pk}, {"a": candidate.pk, "b": candidate.pk}):
        columns = client.get(reverse("training:models"), query).context["comparison"]
        assert [c["version"] for c in columns] == [candidate, active], query
    # The active version chosen as A is compared with another version, not with itself.
    columns = client.get(reverse("training:models"), {"a": active.pk}).context["comparison"]
    assert [c["version"] for c in columns] == [active, candidate]
    html = client.get(reverse("training:models"), {"a": candidate.pk}).content.decode()
    assert f'<option value="{candidate.pk}" selected>' in html.split('name="a"')[1].split("</select>")[0]
    assert f'<option value="{active.pk}" selected>' in html.split('name="b"')[1].split("</select>")[0]


def test_roll_back_is_offered_only_when_there_is_an_earlier_version(client_as, admin_user, versions):
    from registry.services import model_version_activate

    active, candidate = versions
    client = client_as(admin_user)
    assert "Roll back to the previous active version" not in client.get(reverse("training:models")).content.decode()
    model_version_activate(model_version=candidate, user=admin_user, reason="try it")
    html = client.get(reverse("training:models")).content.decode()
    assert "Roll back to the previous active version" in html and "Roll back to this" in html


def test_the_run_form_defaults_to_the_recipes_input_size(client_as, admin_user, versions, settings):
    from training.engine.recipe import SHIPPED_RECIPE

    settings.TRAINING_DEFAULT_HYPERPARAMETERS = {}
    form = client_as(admin_user).get(reverse("training:models")).context["start_form"]
    assert form.fields["input_size"].initial == SHIPPED_RECIPE.input_size == 256
