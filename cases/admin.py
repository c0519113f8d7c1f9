"""Django admin: cases and radiographs with their history (the audit trail) for admins.

Review is registered by the review feature (cases/reviews), not here."""
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cases.models import Case, CaseReportExport, Radiograph


@admin.register(Case)
class CaseAdmin(SimpleHistoryAdmin):
    list_display = ["id", "patient_reference", "sex", "birth_year", "status", "owner", "created_at"]
    list_filter = ["status", "sex"]
    search_fields = ["patient_reference"]
    raw_id_fields = ["owner"]
    list_select_related = ["owner"]


@admin.register(Radiograph)
class RadiographAdmin(SimpleHistoryAdmin):
    list_display = ["id", "case", "source_format", "width", "height", "uploaded_by", "uploaded_at"]
    list_filter = ["source_format"]
    raw_id_fields = ["case", "uploaded_by", "adjudicated_by"]
    list_select_related = ["case", "uploaded_by"]
    # Files are reached through the protected views, never as links to storage.
    exclude = ["image", "dicom_deidentified"]
    readonly_fields = ["sha256", "size_bytes", "width", "height", "bit_depth", "content_type"]



@admin.register(CaseReportExport)
class CaseReportExportAdmin(admin.ModelAdmin):
    """The trail of printed reports: read-only, nobody edits an audit record."""

    list_display = ["id", "case", "exported_by", "exported_at", "film_count", "identity_included"]
    list_filter = ["identity_included"]
    list_select_related = ["case", "exported_by"]
    readonly_fields = [f.name for f in CaseReportExport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
