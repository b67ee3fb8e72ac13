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
        AWAITING = "awaiting", "awaiting approval in the web app"
        EXPIRED = "expired", "approval expired"
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
    # For a write that opens an order (Write.opens): its Exposure.key, to find an identical order sent
    # moments ago, and to count the day's orders.
    order_key = models.CharField(max_length=200, blank=True, db_index=True)
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


class Approval(models.Model):
    """A write an MCP client could not have confirmed (it cannot ask), waiting for the human's yes or no on
    the web app's approval page. Used once: pending -> approved (sent) | failed | declined | expired."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for you"
        APPROVED = "approved", "approved and sent"
        DECLINED = "declined", "declined"
        EXPIRED = "expired", "expired"
        FAILED = "failed", "approved, but not sent"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="approvals")
    tool = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict)
    summary = models.TextField()
    path = models.CharField(max_length=8, default="mcp")  # where it was asked for (OrderAudit.Path)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    order_id = models.CharField(max_length=64, blank=True)  # what Kite created (the tool's Write.creates)
    error_type = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"approval {self.pk} {self.tool} {self.status}"


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` of a write on /api/kite/execute: the same key never sends twice; a repeat is
    answered with the first answer (or told the first is still running)."""

    class State(models.TextChoices):
        RUNNING = "running", "running"
        DONE = "done", "done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    tool = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of the tool and its arguments as sent
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    status_code = models.PositiveSmallIntegerField(null=True)
    answer = models.JSONField(null=True)  # {"data": ...} or {"error": {...}}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.key} {self.tool} {self.state}"
