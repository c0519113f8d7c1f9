"""Reads are audited: every view or download of patient data leaves an append-only access log
entry (who, what, when, from where) that admins search by patient and by user. History cannot be
reverted through the admin, and confirmed labels are archived, never lost to a delete."""
from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.core.files.base import ContentFile
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from simple_history.admin import SimpleHistoryAdmin

from cases.audit import ACCESS_ROUTES, access_log_record
from cases.models import AccessLogEntry, AppendOnlyError, Case, Radiograph
from cases.services import DeleteOutcome, case_delete, radiograph_delete, radiograph_upload
from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from tests.factories import CaseFactory, RadiographFactory, dicom_bytes, png_bytes, upload
from tests.inference import support

CLIENT = "203.0.113.7"


@pytest.fixture
def predicted(radiograph):
    version = support.make_model_version_row()
    prediction = support.make_finished_prediction(radiograph, version)
    prediction.gradcam.save("gradcam.png", ContentFile(png_bytes(seed=3)))
    return prediction


def _entries(**filters) -> list[tuple]:
    return list(
        AccessLogEntry.objects.filter(**filters)
        .order_by("id")
        .values_list("username", "resource", "channel", "case_id", "radiograph_id", "client_address")
    )


def test_every_read_of_patient_data_is_logged_with_who_what_and_where(
    client_as, clinician, case, radiograph, predicted
):
    client = client_as(clinician)
    reads = [
        (reverse("cases:case_list"), "case_list", "page", None),
        (reverse("cases:case_detail", args=[case.pk]), "case", "page", None),
        (reverse("cases:radiograph_detail", args=[radiograph.pk]), "radiograph", "page", radiograph.pk),
        (reverse("cases_api:case_list") + "?search=MRN", "case_list", "api", None),
        (reverse("cases_api:case_detail", args=[case.pk]), "case", "api", None),
        (reverse("cases_api:radiograph_detail", args=[radiograph.pk]), "radiograph", "api", radiograph.pk),
        (reverse("cases_api:radiograph_image", args=[radiograph.pk]), "image", "api", radiograph.pk),
        (reverse("cases_api:radiograph_thumbnail", args=[radiograph.pk]), "thumbnail", "api", radiograph.pk),
        (reverse("inference_api:prediction_detail", args=[predicted.pk]), "prediction", "api", radiograph.pk),
        (reverse("inference_api:prediction_gradcam", args=[predicted.pk]), "heatmap", "api", radiograph.pk),
        (reverse("inference:prediction_panel", args=[radiograph.pk]), "prediction", "page", radiograph.pk),
    ]
    for url, *_ in reads:
        assert client.get(url, REMOTE_ADDR=CLIENT).status_code == 200, url
    expected = [
        (clinician.username, resource, channel, None if resource == "case_list" else case.pk, film, CLIENT)
        for _, resource, channel, film in reads
    ]
    assert _entries() == expected
    paths = list(AccessLogEntry.objects.order_by("id").values_list("path", flat=True))
    assert paths == [url for url, *_ in reads]
    heatmap = AccessLogEntry.objects.get(resource="heatmap")
    assert heatmap.object_id == predicted.pk and heatmap.user == clinician and heatmap.at is not None


def test_dicom_download_reviewer_reading_and_admin_export_are_logged(
    client_as, api_as, clinician, reviewer, admin_user, case, predicted
):
    (dicom,) = radiograph_upload(user=clinician, case=case, files=[upload(dicom_bytes())])
    assert api_as(clinician).get(reverse("cases_api:radiograph_dicom", args=[dicom.pk])).status_code == 200
    film = predicted.radiograph
    read_page = reverse("reviews:review_read", args=[film.pk])
    assert client_as(reviewer).get(read_page).status_code == 200
    film.confirmed_label = "scoliosis"
    film.save()
    assert client_as(admin_user).get(reverse("training:export")).status_code == 200
    assert _entries(resource="dicom") == [(clinician.username, "dicom", "api", case.pk, dicom.pk, "127.0.0.1")]
    assert _entries(username=reviewer.username) == [
        (reviewer.username, "radiograph", "page", case.pk, film.pk, "127.0.0.1")
    ]
    assert _entries(resource="export") == [(admin_user.username, "export", "page", None, None, "127.0.0.1")]


def test_refused_reads_and_writes_log_nothing(client_as, api_as, other_clinician, clinician, case, radiograph):
    assert client_as(other_clinician).get(reverse("cases:case_detail", args=[case.pk])).status_code == 404
    assert api_as(other_clinician).get(reverse("cases_api:radiograph_image", args=[radiograph.pk])).status_code == 404
    assert api_as(None).get(reverse("cases_api:case_detail", args=[case.pk])).status_code == 401
    response = api_as(clinician).patch(
        reverse("cases_api:case_detail", args=[case.pk]), {"notes": "x"}, format="json"
    )
    assert response.status_code == 200  # a change: in the history, not the access log
    assert not AccessLogEntry.objects.exists()


def _url_names(patterns, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= _url_names(pattern.url_patterns, namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_logged_route_still_exists():
    """A renamed URL would silently stop being audited; this fails instead."""
    assert set(ACCESS_ROUTES) <= _url_names(get_resolver().url_patterns)


def test_access_log_is_append_only_through_the_orm_and_in_the_database(clinician, case):
    entry = access_log_record(user=clinician, resource="case", channel="page", path="/x/", case_id=case.pk)
    entry.username = "someone-else"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.filter(pk=entry.pk).update(username="someone-else")
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.all().delete()
    for statement in (
        "UPDATE cases_accesslogentry SET username = 'someone-else'",
        "DELETE FROM cases_accesslogentry",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert AccessLogEntry.objects.get().username == clinician.username


def test_admins_search_the_access_log_by_patient_and_by_user(
    client_as, api_as, clinician, other_clinician, admin_user, case, radiograph
):
    other_case = CaseFactory(owner=other_clinician, patient_reference="MRN-OTHER-77")
    api_as(clinician).get(reverse("cases_api:radiograph_image", args=[radiograph.pk]))
    api_as(other_clinician).get(reverse("cases_api:case_detail", args=[other_case.pk]))
    page = client_as(admin_user)
    by_patient = page.get(reverse("cases:audit_log"), {"kind": "access", "patient": case.patient_reference})
    text = by_patient.content.decode()
    assert by_patient.status_code == 200
    assert f"/api/v1/radiographs/{radiograph.pk}/image/" in text
    assert f"/api/v1/cases/{other_case.pk}/" not in text
    by_user = page.get(reverse("cases:audit_log"), {"kind": "access", "user": other_clinician.username})
    text = by_user.content.decode()
    assert f"/api/v1/cases/{other_case.pk}/" in text and "/image/" not in text


@pytest.mark.parametrize("persona", ["clinician", "reviewer", "outsider"])
def test_access_log_page_is_for_admins_only(request, client_as, persona):
    user = request.getfixturevalue(persona)
    assert client_as(user).get(reverse("cases:audit_log"), {"kind": "access"}).status_code == 403


def test_django_admin_shows_the_access_log_read_only(client_as, admin_user, clinician, case):
    entry = access_log_record(user=clinician, resource="case", channel="api", path="/p/", case_id=case.pk)
    client = client_as(admin_user)
    changelist = reverse("admin:cases_accesslogentry_changelist")
    assert client.get(changelist).status_code == 200
    found = client.get(changelist, {"q": case.patient_reference}).content.decode()
    assert reverse("admin:cases_accesslogentry_change", args=[entry.pk]) in found
    assert client.get(changelist, {"q": clinician.username}).context["cl"].result_count == 1
    assert client.get(changelist, {"q": "NO-SUCH-PATIENT"}).context["cl"].result_count == 0
    change_url = reverse("admin:cases_accesslogentry_change", args=[entry.pk])
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, {"username": "forged"}).status_code == 403
    delete_url = reverse("admin:cases_accesslogentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AccessLogEntry.objects.filter(resource="case", channel="api").get().username == clinician.username


def test_history_cannot_be_reverted_through_the_admin(client_as, admin_user, clinician):
    from cases.services import case_create, case_update

    case = case_create(user=clinician, patient_reference="MRN-HIST-1", notes="first")
    case_update(user=clinician, case=case, data={"notes": "second"})
    first = case.history.earliest("history_date")
    url = reverse("admin:cases_case_simple_history", args=[case.pk, first.history_id])
    client = client_as(admin_user)
    assert client.get(url).status_code == 200
    assert _entries(resource="case", channel="admin") == [
        (admin_user.username, "case", "admin", case.pk, None, "127.0.0.1")
    ]
    response = client.post(url, {"patient_reference": "MRN-HIST-1", "sex": "U", "notes": "first",
                                 "status": "open", "owner": clinician.pk})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.notes == "second"


def test_every_history_admin_is_read_only():
    history_admins = [
        model_admin for model_admin in django_admin.site._registry.values()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]
    assert history_admins
    assert all(isinstance(model_admin, HistoryReadOnlyAdmin) for model_admin in history_admins)


# --- archive, not delete ------------------------------------------------------------------------


def test_confirmed_radiograph_is_archived_not_deleted_and_leaves_the_lists(
    client_as, api_as, admin_user, clinician, case
):
    kept = RadiographFactory(case=case, confirmed_label="scoliosis")
    gone = RadiographFactory(case=case)
    client = client_as(admin_user)
    for radiograph in (kept, gone):
        url = reverse("admin:cases_radiograph_delete", args=[radiograph.pk])
        assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Radiograph.objects.filter(pk=gone.pk).exists()
    kept.refresh_from_db()
    assert kept.archived_at is not None and kept.confirmed_label == "scoliosis"
    assert kept.history.latest("history_date").history_user == admin_user
    assert api_as(clinician).get(reverse("cases_api:radiograph_detail", args=[kept.pk])).status_code == 404
    body = api_as(clinician).get(reverse("cases_api:case_detail", args=[case.pk])).json()
    assert body["radiographs"] == [] and body["radiograph_count"] == 0
    from training.runs.dataset import confirmed_radiographs

    assert kept in confirmed_radiographs()  # still there for training and export


def test_case_with_a_confirmed_label_is_archived_with_its_radiographs(api_as, clinician, case):
    confirmed = RadiographFactory(case=case, confirmed_label="normal")
    pending = RadiographFactory(case=case)
    assert case_delete(user=clinician, case=case) == DeleteOutcome.ARCHIVED
    case.refresh_from_db()
    assert case.archived_at is not None
    assert Radiograph.objects.filter(pk__in=[confirmed.pk, pending.pk], archived_at__isnull=False).count() == 2
    assert api_as(clinician).get(reverse("cases_api:case_list")).json()["count"] == 0
    assert api_as(clinician).get(reverse("cases_api:case_detail", args=[case.pk])).status_code == 404


def test_unconfirmed_case_and_radiograph_are_really_deleted(clinician, case):
    radiograph = RadiographFactory(case=case)
    assert radiograph_delete(user=clinician, radiograph=radiograph) == DeleteOutcome.DELETED
    assert case_delete(user=clinician, case=case) == DeleteOutcome.DELETED
    assert not Case.objects.filter(pk=case.pk).exists()


def test_no_orm_path_deletes_a_confirmed_label(case):
    RadiographFactory(case=case, confirmed_label="scoliosis")
    with pytest.raises(ProtectedError), transaction.atomic():
        Radiograph.objects.filter(case=case).delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        case.delete()
    assert Radiograph.objects.filter(case=case).count() == 1


@pytest.mark.parametrize("persona", ["reviewer", "other_clinician"])
def test_only_owner_or_admin_may_delete(request, case, persona):
    from django.core.exceptions import PermissionDenied

    user = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied):
        case_delete(user=user, case=case)


def test_case_report_and_measurement_corrections_are_logged(client_as, api_as, clinician, case, radiograph):
    assert client_as(clinician).get(reverse("reads:case_report", args=[case.pk])).status_code == 200
    corrections = reverse("reviews_api:radiograph_measurement_corrections", args=[radiograph.pk])
    assert api_as(clinician).get(corrections).status_code == 200
    assert _entries(resource="export") == [(clinician.username, "export", "page", case.pk, None, "127.0.0.1")]
    assert _entries(resource="measurement") == [
        (clinician.username, "measurement", "api", case.pk, radiograph.pk, "127.0.0.1")
    ]
