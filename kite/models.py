from __future__ import annotations

from django.conf import settings
from django.db import models


class OrderAudit(models.Model):
    """Every order action, from any path, allowed or refused: who, where from, what, and what came of it."""

    class Path(models.TextChoices):
        API = "api", "REST API"
        MCP = "mcp", "MCP"
        WEB = "web", "Web"

    class Outcome(models.TextChoices):
        SENT = "sent", "sent to Kite"
        REFUSED = "refused", "refused here"
        DECLINED = "declined", "declined by the human"
        FAILED = "failed", "failed at Kite"
        UNKNOWN = "unknown", "outcome unknown (no answer from Kite)"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    username = models.CharField(max_length=150)
    path = models.CharField(max_length=8, choices=Path.choices)
    account = models.ForeignKey("accounts.Account", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="order_audits")
    account_name = models.CharField(max_length=100, blank=True)
    tool = models.CharField(max_length=64)
    # The write in the tool's own words (kite.tools.Tool.summary): what the human was shown and confirmed.
    summary = models.TextField(blank=True)
    arguments = models.JSONField(default=dict)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # What Kite created or changed, from the field the tool names (Write.creates): an order id, a GTT's
    # trigger id, a SIP id...
    order_id = models.CharField(max_length=64, blank=True)
    error_type = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.tool} {self.outcome}"

    @property
    def described(self) -> str:
        """The summary; for a row written before summaries were kept, its arguments."""
        if self.summary:
            return self.summary
        args = self.arguments if isinstance(self.arguments, dict) else {}
        return ", ".join(f"{k} {v}" for k, v in args.items() if k != "account_id")
