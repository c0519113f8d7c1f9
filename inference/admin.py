from django.contrib import admin, messages

from inference.models import Measurement, Prediction, PredictionStatus
from inference.services import predictions_requeue


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
        """The sweep's service, with the attempts given back; each re-queue is logged (who,
        which prediction, when) in the admin's log, the audit record of admin actions."""
        seen = list(
            queryset.exclude(status=PredictionStatus.SUCCEEDED).values_list("pk", "status", "celery_task_id")
        )
        requeued = predictions_requeue(seen=seen, reset_attempts=True)
        for prediction in Prediction.objects.filter(pk__in=[pk for pk, _ in requeued]):
            self.log_change(request, prediction, f"Re-queued by {request.user.get_username()} (attempts reset).")
        messages.info(request, f"{len(requeued)} prediction(s) re-queued.")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Measurement)
class MeasurementAdmin(admin.ModelAdmin):
    """Read-only: a measurement is the landmark model's output (a stuck one is re-sent by the
    sweep)."""

    list_display = ("id", "radiograph", "model_version", "status", "largest_angle", "largest_upper",
                    "largest_lower", "not_measured", "attempts", "created_at", "finished_at")
    list_filter = ("status", "severity", "model_version")
    search_fields = ("id", "radiograph__id", "celery_task_id")
    readonly_fields = [f.name for f in Measurement._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
