from __future__ import annotations

from django.conf import settings
from django.db import models


class PendingConfirmation(models.Model):
    """A write the MCP server asked the human to confirm by the 2026-07-28 input-required round trip, waiting for
    the client's retry with the answer. In the database, so that any worker process (or a restarted `runmcp`)
    can finish it; used once: the retry that answers it deletes it, whatever the answer.

    The client holds the token, sealed by the SDK's request-state boundary; the row keeps only its SHA-256."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict)
    summary = models.TextField()
    fingerprint = models.CharField(max_length=64)  # mcp_bridge.confirm.fingerprint: the exact write shown
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pending confirmation {self.pk} {self.tool}"
