"""Every page a clinician sees says when the model that reads their films changed, and why."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from registry.models import ModelVersion
from scoliosis_portal.roles import user_is_clinician


def model_change_notices(request: HttpRequest) -> dict:
    """`model_change_notices`: the activations of the last MODEL_CHANGE_NOTICE_DAYS days, newest
    first, for clinicians only (others get an empty list and no query)."""
    user = getattr(request, "user", None)
    if user is None or not user_is_clinician(user):
        return {"model_change_notices": []}
    days = int(getattr(settings, "MODEL_CHANGE_NOTICE_DAYS", 14))
    if days <= 0:
        return {"model_change_notices": []}
    since = timezone.now() - timedelta(days=days)
    versions = (
        ModelVersion.objects.filter(activated_at__gte=since)
        .only("name", "activated_at", "status_reason", "status")
        .order_by("-activated_at")[:5]
    )
    return {"model_change_notices": list(versions), "model_change_notice_days": days}
