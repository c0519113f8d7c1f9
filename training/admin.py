"""Django admin: a read-only view of training runs. Changes go through the services
(the models page or the API), so every activation is gated, reasoned and audited."""
from django.contrib import admin

from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(HistoryReadOnlyAdmin):
    list_display = ("id", "status", "progress", "epoch", "total_epochs", "started_by", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("id", "celery_task_id")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
