"""Django admin: a read-only view of the registry. Changes go through the services (the models
page or the API), so every activation is reasoned and audited."""
from django.contrib import admin

from registry.models import ModelVersion
from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from scoliosis_portal.admin_readonly import ServiceWrittenAdminMixin


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceWrittenAdminMixin, HistoryReadOnlyAdmin):
    list_display = ("id", "name", "kind", "status", "architecture", "activated_by", "activated_at", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "sha256")
