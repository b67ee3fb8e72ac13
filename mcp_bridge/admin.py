from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from mcp_bridge.models import PendingConfirmation


@admin.register(PendingConfirmation)
class PendingConfirmationAdmin(admin.ModelAdmin):
    """Read-only: the questions MCP clients were asked and have not answered yet (each ends answered, or
    audited as expired)."""

    list_display = ["created_at", "user", "account", "tool", "summary", "expires_at"]
    list_filter = ["tool"]
    exclude = ["token_hash", "fingerprint"]
    readonly_fields = ["user", "account", "tool", "arguments", "summary", "created_at", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
