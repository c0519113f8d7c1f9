"""Django admin: cases and radiographs with their history (the audit trail) for admins.
Reviews are in the reviews app's admin."""
from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from cases.models import Case, Radiograph
from cases.services import radiograph_clear_burned_in


@admin.register(Case)
class CaseAdmin(SimpleHistoryAdmin):
    list_display = ["id", "patient_reference", "sex", "birth_year", "status", "owner", "created_at"]
    list_filter = ["status", "sex"]
    search_fields = ["patient_reference"]
    raw_id_fields = ["owner"]
    list_select_related = ["owner"]


@admin.register(Radiograph)
class RadiographAdmin(SimpleHistoryAdmin):
    list_display = [
        "id", "case", "source_format", "width", "height", "burned_in_annotation",
        "burned_in_cleared_at", "uploaded_by", "uploaded_at",
    ]
    list_filter = ["source_format", "burned_in_annotation", ("burned_in_cleared_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["case", "uploaded_by", "adjudicated_by"]
    list_select_related = ["case", "uploaded_by"]
    # Files are reached through the protected views, never as links to storage.
    exclude = ["image", "dicom_deidentified"]
    readonly_fields = [
        "sha256", "size_bytes", "width", "height", "bit_depth", "content_type",
        "burned_in_annotation", "burned_in_cleared_by", "burned_in_cleared_at",
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

