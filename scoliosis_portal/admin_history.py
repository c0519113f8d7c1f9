"""The model admin base for every model with django-simple-history in the project."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class HistoryReadOnlyAdmin(SimpleHistoryAdmin):
    """simple-history's admin with its history shown but never written: no revert button, and a
    POST to a history version page (which would restore that version) is refused.

    SIMPLE_HISTORY_REVERT_DISABLED only hides the button; the POST itself is what this blocks.
    Every model admin with history in the project uses this class."""

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)
