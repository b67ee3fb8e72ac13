from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kite.models import OrderAudit


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that lists and shows rows, and never adds, changes or deletes one."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrderAudit)
class OrderAuditAdmin(ReadOnlyAdmin):
    """Read-only: an audit log is evidence, nobody edits it."""

    list_display = ["created_at", "username", "path", "account_name", "tool", "outcome", "order_id", "error_type"]
    list_filter = ["path", "outcome", "tool"]
    search_fields = ["username", "account_name", "order_id", "message"]
    date_hierarchy = "created_at"
