from django.contrib import admin, messages
from django.db import transaction

from inference.models import Prediction, PredictionStatus


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("id", "radiograph", "model_version", "status", "label", "confidence",
                    "out_of_distribution", "attempts", "created_at", "finished_at")
    list_filter = ("status", "out_of_distribution", "model_version")
    search_fields = ("id", "radiograph__id", "celery_task_id")
    readonly_fields = [f.name for f in Prediction._meta.fields]
    actions = ["requeue"]

    @admin.action(description="Re-queue the selected failed or stuck predictions")
    def requeue(self, request, queryset):
        import uuid

        from django.utils import timezone

        from inference.services import _send_tasks

        to_send = []
        with transaction.atomic():
            for prediction in queryset.exclude(status=PredictionStatus.SUCCEEDED):
                task_id = uuid.uuid4().hex
                Prediction.objects.filter(pk=prediction.pk).update(
                    status=PredictionStatus.QUEUED, celery_task_id=task_id, attempts=0,
                    queued_at=timezone.now(), error="",
                )
                to_send.append((prediction.pk, task_id))
            transaction.on_commit(lambda: _send_tasks(to_send), robust=True)
        messages.info(request, f"{len(to_send)} prediction(s) re-queued.")

    def has_add_permission(self, request) -> bool:
        return False
