"""The prediction in the radiograph API, the protected heat-map, and the prediction panel."""
from __future__ import annotations

import pytest

from inference import services
from inference.models import Prediction
from tests.inference import support
from tests.signin import api_client_for, page_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def predicted(case, model_version):
    radiograph = support.make_radiograph(case)
    prediction = Prediction.objects.create(
        radiograph=radiograph, model_version=model_version, celery_task_id="t", status="queued"
    )
    services.prediction_run(prediction_id=prediction.pk, task_id="t")
    prediction.refresh_from_db()
    assert prediction.status == "succeeded", prediction.error
    return prediction


def test_radiograph_api_fills_prediction_for_the_owner(clinician, predicted):
    response = api_client_for(clinician).get(f"/api/v1/radiographs/{predicted.radiograph_id}/")
    assert response.status_code == 200
    body = response.json()["prediction"]
    assert body["status"] == "succeeded"
    assert body["label"] in support.LABELS
    assert set(body["probabilities"]) == set(support.LABELS)
    assert body["out_of_distribution"] is False and isinstance(body["ood_score"], float)
    assert body["model_version"]["id"] == predicted.model_version_id
    assert body["error"] == ""
    assert body["gradcam_url"].endswith(f"/api/v1/predictions/{predicted.pk}/gradcam/")


def test_prediction_is_null_until_queued_then_queued_status(clinician, case, model_version):
    radiograph = support.make_radiograph(case)
    assert api_client_for(clinician).get(f"/api/v1/radiographs/{radiograph.pk}/").json()["prediction"] is None
    Prediction.objects.create(radiograph=radiograph, model_version=model_version)
    body = api_client_for(clinician).get(f"/api/v1/radiographs/{radiograph.pk}/").json()["prediction"]
    assert body["status"] == "queued" and body["label"] is None and body["gradcam_url"] is None


def test_owner_and_reviewer_can_download_gradcam(clinician, reviewer, predicted):
    # Under blind reading (the default) the reviewer sees the heat-map once their read is saved.
    predicted.radiograph.reviews.create(reviewer=reviewer, label="normal", blind=True)
    for user in (clinician, reviewer):
        response = api_client_for(user).get(f"/api/v1/predictions/{predicted.pk}/gradcam/")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert "no-store" in response["Cache-Control"]
        assert b"".join(response.streaming_content)[:4] == b"\x89PNG"


def test_outsiders_cannot_download_gradcam(other_clinician, outsider, predicted):
    for user in (other_clinician, outsider):
        assert api_client_for(user).get(f"/api/v1/predictions/{predicted.pk}/gradcam/").status_code == 404
        assert api_client_for(user).get(f"/api/v1/predictions/{predicted.pk}/").status_code == 404
    assert api_client_for(None).get(f"/api/v1/predictions/{predicted.pk}/gradcam/").status_code == 401


def test_gradcam_is_not_under_a_public_media_url(predicted, client):
    assert client.get(f"/media/{predicted.gradcam.name}").status_code == 404


def test_prediction_page_shows_answer_confidence_words_and_decision_aid(clinician, predicted):
    response = page_client_for(clinician).get(f"/inference/radiographs/{predicted.radiograph_id}/prediction/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Decision aid, not a diagnosis" in html
    assert predicted.label in html and "Of 10 radiographs given this answer" in html
    assert predicted.model_version.name in html
    assert f'data-heatmap-url="/api/v1/predictions/{predicted.pk}/gradcam/"' in html
    assert "data-film-viewer" in html  # the heat-map is a layer of the film viewer
    assert html.count("Decision aid, not a diagnosis") == 1
    assert 'http-equiv="refresh"' not in html


def test_pending_prediction_page_refreshes_itself_without_javascript(clinician, case, model_version):
    radiograph = support.make_radiograph(case)
    Prediction.objects.create(radiograph=radiograph, model_version=model_version)
    html = page_client_for(clinician).get(f"/inference/radiographs/{radiograph.pk}/prediction/").content.decode()
    assert 'http-equiv="refresh"' in html and "reading this radiograph" in html
    fragment = page_client_for(clinician).get(
        f"/inference/radiographs/{radiograph.pk}/prediction/?fragment=1"
    ).content.decode()
    assert fragment.lstrip().startswith("{#") is False and "<html" not in fragment
    assert 'id="prediction-panel"' in fragment


def test_out_of_distribution_shows_a_warning_instead_of_a_class(clinician, case):
    version = support.make_model_version_row(name="ood-rows")
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version, label="normal", ood=True)
    html = page_client_for(clinician).get(f"/inference/radiographs/{radiograph.pk}/prediction/").content.decode()
    assert "does not look like the radiographs the model was trained on" in html
    assert "Model's answer:" not in html


def test_failed_prediction_page_shows_its_message(clinician, case):
    version = support.make_model_version_row(name="failed-rows")
    radiograph = support.make_radiograph(case)
    support.make_finished_prediction(radiograph, version, status="failed")
    html = page_client_for(clinician).get(f"/inference/radiographs/{radiograph.pk}/prediction/").content.decode()
    assert "could not read this radiograph" in html and "The image could not be read" in html


def test_other_clinician_cannot_see_predictionpage_client(other_clinician, outsider, predicted):
    for user in (other_clinician, outsider):
        url = f"/inference/radiographs/{predicted.radiograph_id}/prediction/"
        assert page_client_for(user).get(url).status_code == 404


def test_radiograph_page_of_the_platform_includes_the_panel(clinician, predicted):
    html = page_client_for(clinician).get(f"/radiographs/{predicted.radiograph_id}/").content.decode()
    assert 'id="prediction-panel"' in html and predicted.label in html


def test_web_request_path_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import django, sys; django.setup();"
        "import inference.views, inference.apis, inference.services, inference.tasks,"
        " inference.selectors, reviews.views, reviews.apis, registry.services;"
        "from django.urls import resolve; resolve('/inference/review/');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
