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


# --- History: what Kite keeps for one day only, kept here per account (CONTRACT section 10) -------------

class Source(models.TextChoices):
    """Where a piece of history was seen."""

    POSTBACK = "postback", "postback"
    TICKER = "ticker", "ticker"
    SNAPSHOT = "snapshot", "snapshot"


class OrderUpdate(models.Model):
    """One state of an order as Kite reported it (a postback, the ticker's order update, or the day's
    order book read by `manage.py snapshot`). The same state seen twice, from any source, is stored once:
    `fingerprint` is a hash of what makes the state (kite.history.order_fingerprint)."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="order_updates")
    order_id = models.CharField(max_length=64)
    status = models.CharField(max_length=64)
    exchange = models.CharField(max_length=8, blank=True)
    tradingsymbol = models.CharField(max_length=64, blank=True)
    transaction_type = models.CharField(max_length=8, blank=True)
    quantity = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    filled_quantity = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    average_price = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    order_timestamp = models.DateTimeField(null=True)  # Kite's IST wall time, stored aware
    trading_day = models.DateField(db_index=True)  # the IST day of order_timestamp (else of its arrival)
    source = models.CharField(max_length=8, choices=Source.choices)
    fingerprint = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)  # what Kite sent, without the checksum
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order_timestamp", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "fingerprint"], name="order_update_once")]
        indexes = [models.Index(fields=["account", "order_id"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} ({self.source})"


class TradeRecord(models.Model):
    """One fill, from the day's trades read by `manage.py snapshot`: once per account, exchange and trade id."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="trade_records")
    trade_id = models.CharField(max_length=64)
    order_id = models.CharField(max_length=64)
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    product = models.CharField(max_length=8, blank=True)
    transaction_type = models.CharField(max_length=8)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    price = models.DecimalField(max_digits=18, decimal_places=4)
    fill_timestamp = models.DateTimeField()
    trading_day = models.DateField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.SNAPSHOT)
    payload = models.JSONField(default=dict)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["fill_timestamp", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "exchange", "trade_id"], name="trade_record_once")]
        indexes = [models.Index(fields=["account", "trading_day"])]

    def __str__(self) -> str:
        return f"{self.trade_id} {self.transaction_type} {self.quantity} {self.exchange}:{self.tradingsymbol}"


class PortfolioSnapshot(models.Model):
    """An account's holdings at the end of one day, as `manage.py snapshot` read them. A day without a
    snapshot is unknown, never zero; a snapshot with no holdings is a real zero."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="portfolio_snapshots")
    date = models.DateField()
    value = models.DecimalField(max_digits=20, decimal_places=2)  # sum of quantity x close price
    invested = models.DecimalField(max_digits=20, decimal_places=2)  # sum of quantity x average price
    pnl = models.DecimalField(max_digits=20, decimal_places=2)  # value - invested (unrealised)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["account", "date"], name="portfolio_snapshot_per_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.date} {self.value}"


class HoldingSnapshot(models.Model):
    """One instrument of a PortfolioSnapshot."""

    snapshot = models.ForeignKey(PortfolioSnapshot, on_delete=models.CASCADE, related_name="holdings")
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    average_price = models.DecimalField(max_digits=18, decimal_places=4)
    close_price = models.DecimalField(max_digits=18, decimal_places=4)  # Kite's last price when it was read
    value = models.DecimalField(max_digits=20, decimal_places=2)
    pnl = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        ordering = ["exchange", "tradingsymbol"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "exchange", "tradingsymbol"],
                                               name="holding_snapshot_once")]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol} {self.quantity}"
