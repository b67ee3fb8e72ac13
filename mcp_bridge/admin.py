from __future__ import annotations

from django.contrib import admin

from kite.admin import ReadOnlyAdmin
from mcp_bridge.models import PendingConfirmation


@admin.register(PendingConfirmation)
class PendingConfirmationAdmin(ReadOnlyAdmin):
    """Read-only: the questions MCP clients were asked and have not answered yet (each ends answered, or
    audited as expired)."""

    list_display = ["created_at", "user", "account", "tool", "summary", "expires_at"]
    list_filter = ["tool"]
    exclude = ["token_hash", "fingerprint"]
    readonly_fields = ["user", "account", "tool", "arguments", "summary", "created_at", "expires_at"]
