"""API tokens in the admin: who holds one and until when. Never the key, its prefix or its digest;
an admin can revoke (delete) tokens but not create one (a token is asked for with a password)."""
from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created", "expiry", "second_factor"]
    list_filter = ["second_factor"]
    search_fields = ["user__username"]
    fields = ["user", "created", "expiry", "second_factor"]
    readonly_fields = fields
    list_select_related = ["user"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
