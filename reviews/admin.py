"""Django admin: reviews with their history (the audit trail of every read), read-only.
Reads change through the review queue's services, so agreement and confirmation stay in step."""
from django.contrib import admin

from reviews.models import MeasurementCorrection, Review
from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from scoliosis_portal.admin_readonly import AuditRecordAdminMixin, ServiceWrittenAdminMixin


@admin.register(Review)
class ReviewAdmin(ServiceWrittenAdminMixin, HistoryReadOnlyAdmin):
    list_display = ["id", "radiograph", "reviewer", "label", "blind", "created_at", "updated_at"]
    list_filter = ["label", "blind"]
    search_fields = ["radiograph__id", "reviewer__username"]
    list_select_related = ["radiograph", "reviewer"]


@admin.register(MeasurementCorrection)
class MeasurementCorrectionAdmin(AuditRecordAdminMixin, admin.ModelAdmin):
    """Every correction is its own row (the history of a film's measurement), read-only here."""

    list_display = ["id", "radiograph", "reviewer", "largest_angle", "upper_end", "lower_end", "created_at"]
    search_fields = ["radiograph__id", "reviewer__username"]
    list_select_related = ["radiograph", "reviewer"]
