"""Model admin mixins for records the admin shows but never writes."""
from __future__ import annotations


class ServiceWrittenAdminMixin:
    """A record that only its services write (so that every change is reasoned and audited):
    the admin shows every field read-only, and adds and deletes nothing."""

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditRecordAdminMixin(ServiceWrittenAdminMixin):
    """An audit record (a read, a printed report, a correction): nobody edits it, so the admin
    offers no change page either, only a view."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False
