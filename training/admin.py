"""Django admin: a read-only view of training runs. Changes go through the services
(the models page or the API), so every activation is gated, reasoned and audited."""
from django.contrib import admin

from scoliosis_portal.admin_history import HistoryReadOnlyAdmin
from scoliosis_portal.admin_readonly import ServiceWrittenAdminMixin
from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(ServiceWrittenAdminMixin, HistoryReadOnlyAdmin):
    list_display = ("id", "status", "progress", "epoch", "total_epochs", "started_by", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("id", "celery_task_id")
