"""State of the simulated Kite server. Money is Decimal; prices are rounded to the tick when set."""
from __future__ import annotations

from decimal import Decimal

from django.db import models

MONEY = {"max_digits": 20, "decimal_places": 6}


class SandboxState(models.Model):
    """The singleton row every process reads: the sandbox clock and the price-shift version."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    frozen_at = models.DateTimeField(null=True, blank=True)
    offset_seconds = models.FloatField(default=0.0)
    # Bumped on every price shift, so each process knows when to reload its shift table.
    shifts_version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "sandbox clock"

    def __str__(self) -> str:
        return f"frozen at {self.frozen_at}" if self.frozen_at else f"real time {self.offset_seconds:+.0f}s"


class PriceShift(models.Model):
    """A step change of one instrument's price from `at` on, on top of the deterministic walk."""

    instrument_token = models.BigIntegerField(db_index=True)
    at = models.DateTimeField()
    factor = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.instrument_token} x{self.factor:.4f} from {self.at}"


class PaperUser(models.Model):
    """A paper-trading Kite user: cash, and the books the engine keeps for them."""

    user_id = models.CharField(max_length=16, unique=True)
    user_name = models.CharField(max_length=100)
    user_shortname = models.CharField(max_length=50)
    email = models.CharField(max_length=200)
    opening_balance = models.DecimalField(**MONEY, default=Decimal("0"))
    # The calendar day (Asia/Kolkata) the positions, day fields and cash belong to.
    book_day = models.DateField()
    # The day whose market-close events (MIS square-off, DAY order expiry) have been applied.
    closed_day = models.DateField(null=True, blank=True)
    # Up to when open orders have been evaluated against the price path.
    synced_at = models.DateTimeField()
    open_orders = models.PositiveIntegerField(default=0)
    # Active GTT triggers: like open orders, they are evaluated whenever the clock or a price moves.
    active_gtts = models.PositiveIntegerField(default=0)
    # Brokerage and statutory charges of the book day's fills (to the paisa): they count against the
    # margins at once and leave the cash at the day's settlement, as on Zerodha's contract note.
    charges_today = models.DecimalField(**MONEY, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.user_name})"


class App(models.Model):
    """A Kite Connect app: api_key, api_secret, redirect URL, and the paper user it logs in."""

    api_key = models.CharField(max_length=64, unique=True)
    api_secret = models.CharField(max_length=64)
    redirect_url = models.URLField(max_length=500)
    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="apps")
    # The static IPs orders must come from (Kite since 2026-04-01); empty: any address.
    allowed_ips = models.JSONField(default=list, blank=True)
    # Where every order update of the app's user is POSTed (Kite's postbacks); "": none.
    postback_url = models.URLField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.api_key} -> {self.user.user_id}"


class RequestToken(models.Model):
    token = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="request_tokens")
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"request token for {self.app.api_key}"


class AccessToken(models.Model):
    token = models.CharField(max_length=64, unique=True)
    public_token = models.CharField(max_length=64)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="access_tokens")
    login_time = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session of {self.app.api_key} from {self.login_time}"


class Order(models.Model):
    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="orders")
    order_id = models.CharField(max_length=32, unique=True)
    exchange_order_id = models.CharField(max_length=32, blank=True, default="")  # "" until at the exchange
    variety = models.CharField(max_length=16)
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    instrument_token = models.BigIntegerField()
    transaction_type = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    product = models.CharField(max_length=8)
    validity = models.CharField(max_length=8)
    validity_ttl = models.PositiveIntegerField(default=0)
    quantity = models.PositiveIntegerField()
    disclosed_quantity = models.PositiveIntegerField(default=0)
    price = models.DecimalField(**MONEY, default=Decimal("0"))
    trigger_price = models.DecimalField(**MONEY, default=Decimal("0"))
    average_price = models.DecimalField(**MONEY, default=Decimal("0"))
    filled_quantity = models.PositiveIntegerField(default=0)
    pending_quantity = models.PositiveIntegerField(default=0)
    cancelled_quantity = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=32, db_index=True)
    status_message = models.TextField(blank=True, default="")
    status_message_raw = models.TextField(blank=True, default="")
    tag = models.CharField(max_length=20, blank=True, default="")
    # Tags Kite itself adds after the user's own: "mktp", "mktp:2.00", "autoslice", "autoslice:<id>".
    system_tags = models.JSONField(default=list, blank=True)
    # As sent: -1 automatic, 0 none, or a percentage up to 100.
    market_protection = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    modified = models.BooleanField(default=False)
    modification_count = models.PositiveIntegerField(default=0)
    triggered = models.BooleanField(default=False)
    # A protected MARKET/SL-M order's worst price (last price +/- its band when it reached the book):
    # what is left of it rests there.
    protection_price = models.DecimalField(**MONEY, default=Decimal("0"))
    # The last book this order traded against (when, and `Depth.digest`), and how much it took from it: that
    # book, met again (prices and books hold for a minute), is met without it.
    matched_at = models.DateTimeField(null=True, blank=True)
    matched_quantity = models.PositiveIntegerField(default=0)
    matched_book = models.CharField(max_length=32, blank=True)
    # The margin this open order blocks (released when it fills, is cancelled or rejected).
    blocked_margin = models.DecimalField(**MONEY, default=Decimal("0"))
    # A cover order's stop-loss leg names its entry (Kite's `parent_order_id`); "" otherwise.
    parent_order_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    # The app whose api_key placed it (legs and GTT orders: the app of what placed them); 0: the system (the
    # square-off). Kite posts an order's updates only to that app's postback_url.
    app_id = models.PositiveIntegerField(default=0)
    # Kite's `meta`: an iceberg leg's {"iceberg": {"leg", "legs", "leg_quantity", "total_quantity",
    # "remaining_quantity"}}; {} otherwise.
    meta = models.JSONField(default=dict, blank=True)
    order_timestamp = models.DateTimeField()
    exchange_timestamp = models.DateTimeField(null=True, blank=True)
    exchange_update_timestamp = models.DateTimeField(null=True, blank=True)
    book_day = models.DateField()
    # When an AMO goes to the exchange (the next open), or when a TTL order lapses.
    active_from = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order_timestamp", "id"]
        indexes = [models.Index(fields=["user", "book_day"]), models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.transaction_type} {self.quantity} {self.exchange}:{self.tradingsymbol}"


class OrderEvent(models.Model):
    """One snapshot of an order as it moves through states (GET /orders/{order_id})."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    snapshot = models.JSONField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.snapshot.get('order_id')} {self.snapshot.get('status')}"


class Trade(models.Model):
    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="trades")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="trades")
    trade_id = models.CharField(max_length=32, unique=True)
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    instrument_token = models.BigIntegerField()
    product = models.CharField(max_length=8)
    transaction_type = models.CharField(max_length=4)
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(**MONEY)
    # What the fill cost in brokerage and statutory charges (sandbox.charges), to the paisa.
    charges = models.DecimalField(**MONEY, default=Decimal("0"))
    fill_timestamp = models.DateTimeField()
    book_day = models.DateField()

    class Meta:
        ordering = ["fill_timestamp", "id"]
        indexes = [models.Index(fields=["user", "book_day"])]

    def __str__(self) -> str:
        return f"{self.trade_id} {self.transaction_type} {self.quantity} @ {self.price}"


class Position(models.Model):
    """One instrument and product in a user's book: what was carried in, and today's trading."""

    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="positions")
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    instrument_token = models.BigIntegerField()
    product = models.CharField(max_length=8)
    overnight_quantity = models.IntegerField(default=0)
    overnight_average = models.DecimalField(**MONEY, default=Decimal("0"))
    overnight_close = models.DecimalField(**MONEY, default=Decimal("0"))
    day_buy_quantity = models.PositiveIntegerField(default=0)
    day_buy_value = models.DecimalField(**MONEY, default=Decimal("0"))
    day_sell_quantity = models.PositiveIntegerField(default=0)
    day_sell_value = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "instrument_token", "product"], name="sandbox_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol} {self.product}"

    @property
    def quantity(self) -> int:
        return self.overnight_quantity + self.day_buy_quantity - self.day_sell_quantity


class Holding(models.Model):
    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="holdings")
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    instrument_token = models.BigIntegerField()
    isin = models.CharField(max_length=16)
    realised_quantity = models.PositiveIntegerField(default=0)
    t1_quantity = models.PositiveIntegerField(default=0)
    used_quantity = models.PositiveIntegerField(default=0)
    opening_quantity = models.PositiveIntegerField(default=0)
    average_price = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        ordering = ["tradingsymbol", "exchange"]
        constraints = [models.UniqueConstraint(fields=["user", "instrument_token"], name="sandbox_holding_unique")]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol} x{self.quantity}"

    @property
    def quantity(self) -> int:
        return self.realised_quantity + self.t1_quantity


class GTTTrigger(models.Model):
    """A Good Till Triggered order: a condition on one instrument's price and the LIMIT order(s) it
    places when met. `orders` is Kite's list as it reads (each with its `result` once fired)."""

    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="gtts")
    app_id = models.PositiveIntegerField(default=0)  # Kite shows the placing app in the fired order's meta
    trigger_type = models.CharField(max_length=8)  # single | two-leg
    exchange = models.CharField(max_length=8)
    tradingsymbol = models.CharField(max_length=64)
    instrument_token = models.BigIntegerField()
    trigger_values = models.JSONField()  # [value] or [lower, upper]
    last_price = models.FloatField()  # as sent: which side of the market a single trigger waits on
    orders = models.JSONField()
    status = models.CharField(max_length=16, db_index=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"GTT {self.pk} {self.trigger_type} {self.exchange}:{self.tradingsymbol} {self.status}"


class MFHolding(models.Model):
    """Units of one mutual fund scheme in a folio."""

    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="mf_holdings")
    tradingsymbol = models.CharField(max_length=16)  # the scheme's ISIN
    folio = models.CharField(max_length=16)
    quantity = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    average_price = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        ordering = ["tradingsymbol"]
        constraints = [models.UniqueConstraint(fields=["user", "tradingsymbol"], name="sandbox_mfholding_unique")]

    def __str__(self) -> str:
        return f"{self.tradingsymbol} x{self.quantity}"


class MFSip(models.Model):
    """A systematic investment plan: an MF BUY of `amount` on each instalment date."""

    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="mf_sips")
    sip_id = models.CharField(max_length=20, unique=True)
    tradingsymbol = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY)
    instalments = models.IntegerField()  # -1: until cancelled
    frequency = models.CharField(max_length=10)  # weekly | monthly | quarterly
    instalment_day = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, db_index=True)  # ACTIVE | PAUSED | CANCELLED | COMPLETED
    tag = models.CharField(max_length=20, blank=True, default="")
    created = models.DateTimeField()
    next_instalment = models.DateField()
    last_instalment = models.DateTimeField()
    completed_instalments = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"SIP {self.sip_id} {self.tradingsymbol} {self.amount} {self.frequency}"


class MFOrder(models.Model):
    """A mutual fund order: OPEN until allotted at the next business day's NAV (or cancelled)."""

    user = models.ForeignKey(PaperUser, on_delete=models.CASCADE, related_name="mf_orders")
    order_id = models.CharField(max_length=36, unique=True)
    tradingsymbol = models.CharField(max_length=16)
    transaction_type = models.CharField(max_length=4)
    variety = models.CharField(max_length=8, default="regular")  # regular | sip
    purchase_type = models.CharField(max_length=10, blank=True, default="")  # FRESH | ADDITIONAL (BUY only)
    amount = models.DecimalField(**MONEY, default=Decimal("0"))
    quantity = models.DecimalField(max_digits=20, decimal_places=3, default=Decimal("0"))
    average_price = models.DecimalField(**MONEY, default=Decimal("0"))
    status = models.CharField(max_length=10, db_index=True)
    status_message = models.TextField(blank=True, default="")
    tag = models.CharField(max_length=20, blank=True, default="")
    sip = models.ForeignKey(MFSip, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    folio = models.CharField(max_length=16, blank=True, default="")
    exchange_order_id = models.CharField(max_length=16, blank=True, default="")
    settlement_id = models.CharField(max_length=16, blank=True, default="")
    order_timestamp = models.DateTimeField()
    allot_on = models.DateField()  # the business day whose NAV it is allotted at
    allotted_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-order_timestamp", "-id"]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"MF {self.order_id} {self.transaction_type} {self.tradingsymbol} {self.status}"
