"""Django admin: cases and radiographs with their history (the audit trail), and the access log,
for admins.

History is evidence: it can be read, never reverted or edited here (`HistoryReadOnlyAdmin`).
Deleting a case or radiograph goes through the delete services, which archive instead once a
label is confirmed. The access log is read-only. Reviews are in the reviews
app's admin."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.models import AccessLogEntry, Case, CaseReportExport, Radiograph
from cases.services import (
    DeleteOutcome,
    case_delete,
    radiograph_clear_burned_in,
    radiograph_delete,
)
from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from scoliosis_portal.admin_readonly import AuditRecordAdminMixin


class _ArchivingDeleteMixin:
    """The admin's delete (one object or the bulk action) runs the delete service, which
    archives an object whose label was confirmed instead of deleting it."""

    delete_service = None

    def delete_model(self, request: HttpRequest, obj) -> None:
        outcome = type(self).delete_service(user=request.user, **{self.model._meta.model_name: obj})
        if outcome == DeleteOutcome.ARCHIVED:
            self.message_user(
                request,
                f"{obj} has a confirmed label: it was archived, not deleted.",
                messages.WARNING,
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Case)
class CaseAdmin(_ArchivingDeleteMixin, HistoryReadOnlyAdmin):
    delete_service = case_delete
    list_display = [
        "id", "patient_reference", "sex", "birth_year", "status", "owner", "created_at", "archived_at",
    ]
    list_filter = ["status", "sex", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient_reference"]
    raw_id_fields = ["owner"]
    list_select_related = ["owner"]
    readonly_fields = ["archived_at"]


@admin.register(Radiograph)
class RadiographAdmin(_ArchivingDeleteMixin, HistoryReadOnlyAdmin):
    delete_service = radiograph_delete
    list_display = [
        "id", "case", "source_format", "width", "height", "burned_in_annotation",
        "burned_in_cleared_at", "uploaded_by", "uploaded_at", "archived_at",
    ]
    list_filter = [
        "source_format", "burned_in_annotation",
        ("burned_in_cleared_at", admin.EmptyFieldListFilter),
        ("archived_at", admin.EmptyFieldListFilter),
    ]
    raw_id_fields = ["case", "uploaded_by", "adjudicated_by"]
    list_select_related = ["case", "uploaded_by"]
    # Files are reached through the protected views, never as links to storage.
    exclude = ["image", "dicom_deidentified"]
    readonly_fields = [
        "sha256", "size_bytes", "width", "height", "bit_depth", "content_type",
        "burned_in_annotation", "burned_in_cleared_by", "burned_in_cleared_at", "archived_at",
    ]
    actions = ["clear_burned_in"]

    @admin.action(description="Looked at: no identifying text burned in (allow export and training)")
    def clear_burned_in(self, request, queryset) -> None:
        count = 0
        for radiograph in queryset:
            if radiograph.burned_in_flagged:
                radiograph_clear_burned_in(user=request.user, radiograph=radiograph)
                count += 1
        self.message_user(request, f"{count} radiograph(s) cleared.", messages.SUCCESS)


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(AuditRecordAdminMixin, admin.ModelAdmin):
    """Read-only. Search by username, by patient reference (every case of that patient) or by
    case or radiograph id; the audit page (/audit/?kind=access) does the same for admins."""

    list_display = ["at", "username", "resource", "channel", "case_id", "radiograph_id", "client_address"]
    list_filter = ["resource", "channel"]
    search_fields = ["=username", "=case_id", "=radiograph_id"]
    date_hierarchy = "at"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        reference = search_term.strip()
        if reference:
            patient = Case.objects.filter(patient_reference__iexact=reference).values("pk")
            results = results | queryset.filter(case_id__in=patient)
        return results, may_have_duplicates


@admin.register(CaseReportExport)
class CaseReportExportAdmin(AuditRecordAdminMixin, admin.ModelAdmin):
    """The trail of printed reports: read-only, nobody edits an audit record."""

    list_display = ["id", "case", "exported_by", "exported_at", "film_count", "identity_included"]
    list_filter = ["identity_included"]
    list_select_related = ["case", "exported_by"]
