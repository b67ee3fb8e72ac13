from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.fields import EncryptedCharField


class Environment(models.TextChoices):
    LIVE = "live", "Live (Zerodha)"
    SANDBOX = "sandbox", "Sandbox (paper trading)"


class Status(models.TextChoices):
    NEEDS_CREDENTIALS = "needs_credentials", "needs credentials"
    NEEDS_LOGIN = "needs_login", "needs login"
    CONNECTED = "connected", "connected"
    EXPIRED = "expired", "expired"


class Account(models.Model):
    """A Zerodha (or sandbox) Kite Connect app and the user's daily session on it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kite_accounts")
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.LIVE)
    api_key = EncryptedCharField(max_length=128, null=True, blank=True)
    api_secret = EncryptedCharField(max_length=128, null=True, blank=True)
    access_token = EncryptedCharField(max_length=256, null=True, blank=True)
    kite_user_id = models.CharField(max_length=32, blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped whenever the session (token) changes, so every process can tell its cached client is stale
    # from one cheap column, without decrypting anything.
    session_version = models.PositiveIntegerField(default=0, editable=False)
    # SHA-256 of the nonce in the latest login URL's signed state: a callback consumes it (single use).
    login_nonce_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    trading_enabled = models.BooleanField(default=False)
    confirm_orders = models.BooleanField(default=True)
    # Guardrails (null: no limit): checked before the human is asked and again just before sending.
    max_order_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                          validators=[MinValueValidator(1)],
                                          help_text="Rupees; an order worth more is refused. Empty: no limit.")
    max_orders_per_day = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                                     help_text="Orders sent per IST day; more are refused. Empty: "
                                                               "no limit.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="account_name_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment})"

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.api_secret)

    @property
    def api_key_hint(self) -> str | None:
        return f"…{self.api_key[-4:]}" if self.api_key else None

    def status_at(self, now: datetime) -> str:
        if not self.has_credentials:
            return Status.NEEDS_CREDENTIALS
        if not self.access_token:
            return Status.NEEDS_LOGIN
        if self.token_expires_at is None or self.token_expires_at <= now:
            return Status.EXPIRED
        return Status.CONNECTED

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())
