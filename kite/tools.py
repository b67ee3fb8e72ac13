"""The tool registry: one complete specification per tool, served by /api/kite/execute, the MCP server
and the pages alike. No front switches on a tool's name: what it needs to know is on the entry.

A `Tool` has a name, a title and a description a person or a model can act on, a pydantic model of its
arguments (the JSON schema and the validation both come from it), the Kite rate-limit class its calls
spend, and a handler. A write tool also carries a `Write`: how it describes itself to the human who
confirms it (the same sentence goes to the audit log and the Orders page), which field of its answer
names what Kite created, and what to do when the answer was lost. Handlers get a `ToolContext` and the
validated arguments, and return what Kite returned.

Adding a tool is one entry in TOOLS (plus its handler and argument model).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from django.utils import numberformat
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from accounts.models import Account
from kite.errors import InvalidInput, UnknownInstrument, UnknownTool

Exchange = Literal["NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"]
Variety = Literal["regular", "amo", "co", "iceberg", "auction"]
Product = Literal["CNC", "NRML", "MIS", "MTF", "CO"]
OrderType = Literal["MARKET", "LIMIT", "SL", "SL-M"]
Validity = Literal["DAY", "IOC", "TTL"]
Interval = Literal["minute", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute", "day"]

INSTRUMENT_PATTERN = r"^(NSE|BSE|NFO|CDS|BFO|MCX|BCD):[A-Za-z0-9&_.\- ]{1,50}$"
Instrument = Annotated[str, Field(pattern=INSTRUMENT_PATTERN, description='"EXCHANGE:TRADINGSYMBOL", e.g. "NSE:INFY"')]
Symbol = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9&_.\- ]+$")]
OrderId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9\-]+$")]
Price = Annotated[float, Field(gt=0, lt=10_000_000)]


class Args(BaseModel):
    """Strict: no unknown keys, no "1" for 1."""

    model_config = ConfigDict(extra="forbid", strict=True)


class MarginOrder(Args):
    """An order as Kite's margin calculators take it (POST /margins/orders, /margins/basket)."""

    exchange: Exchange
    tradingsymbol: Symbol
    transaction_type: Literal["BUY", "SELL"]
    variety: Variety = "regular"
    product: Product
    order_type: OrderType
    quantity: int = Field(gt=0, le=10_000_000)
    price: float = Field(0, ge=0, lt=10_000_000)
    trigger_price: float = Field(0, ge=0, lt=10_000_000)


class ChargeOrder(MarginOrder):
    """An executed order as Kite's contract-note calculator takes it (POST /charges/orders)."""

    order_id: str = Field("1", min_length=1, max_length=40)
    average_price: float = Field(gt=0, lt=10_000_000, description="The price it was (or would be) executed at.")


class NoAccountArgs(Args):
    pass


def _protection(value: float) -> float:
    if value != -1 and not 0 < value <= 100:
        raise ValueError("market_protection is -1 (automatic) or a percentage above 0 and at most 100")
    return value


MarketProtection = Annotated[float, AfterValidator(_protection)]
PROTECTED_TYPES = ("MARKET", "SL-M")  # Kite refuses these from the API without market protection (2026)


def protection_for(order_type: str, given: float | None) -> float | None:
    """The market protection to send: -1 (automatic) for MARKET and SL-M when none is given; none for other types."""
    if order_type in PROTECTED_TYPES:
        return -1 if given is None else given
    if given is not None:
        raise ValueError(f"market_protection is only for MARKET and SL-M orders, not {order_type}")
    return None


class ToolArgs(Args):
    account_id: int = Field(ge=1, description="Which of your Kite accounts (list_accounts, GET /api/kite/accounts).")


class MarginsArgs(ToolArgs):
    segment: Literal["equity", "commodity"] | None = Field(None, description="Only this segment; both when omitted.")


class OrderHistoryArgs(ToolArgs):
    order_id: OrderId


def _instruments_field(cap: int) -> Any:
    return Field(min_length=1, max_length=cap,
                 description=f'Up to {cap} instruments as "EXCHANGE:TRADINGSYMBOL" (e.g. "NSE:INFY", "NSE:NIFTY 50").')


class QuoteArgs(ToolArgs):
    instruments: list[Instrument] = _instruments_field(2000)


class OhlcArgs(ToolArgs):
    instruments: list[Instrument] = _instruments_field(5000)


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def parse_when(value: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError("use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (IST)")


class HistoricalArgs(ToolArgs):
    instrument: Instrument | None = Field(None, description='"EXCHANGE:TRADINGSYMBOL"; or give instrument_token.')
    instrument_token: int | None = Field(None, ge=1, description="Kite's instrument token; or give instrument.")
    from_date: str = Field(description="Start, IST: YYYY-MM-DD or YYYY-MM-DD HH:MM:SS.")
    to_date: str = Field(description="End, IST: YYYY-MM-DD or YYYY-MM-DD HH:MM:SS.")
    interval: Interval
    continuous: bool = Field(False, description="Continuous data across expiries (futures, day candles).")
    oi: bool = Field(False, description="Add open interest to each candle.")

    @field_validator("from_date", "to_date")
    @classmethod
    def _when(cls, value: str) -> str:
        parse_when(value)
        return value

    @model_validator(mode="after")
    def _one_instrument(self) -> HistoricalArgs:
        if (self.instrument is None) == (self.instrument_token is None):
            raise ValueError("give exactly one of instrument and instrument_token")
        if parse_when(self.from_date) > parse_when(self.to_date):
            raise ValueError("from_date is after to_date")
        return self


class SearchArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=64, description='Symbol or company name, e.g. "INFY" or "state bank".')
    exchange: Exchange | None = None
    limit: int = Field(20, ge=1, le=100)


_TAG = r"^[A-Za-z0-9]{1,20}$"


class PlaceOrderArgs(ToolArgs):
    variety: Variety = "regular"
    exchange: Exchange
    tradingsymbol: Symbol
    transaction_type: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0, le=1_000_000)
    product: Product
    order_type: OrderType
    price: Price | None = Field(None, description="Limit price, for LIMIT and SL orders.")
    trigger_price: Price | None = Field(None, description="Trigger price, for SL and SL-M orders; for a cover order "
                                                          "(variety co) the compulsory stop-loss trigger.")
    validity: Validity | None = None
    validity_ttl: int | None = Field(None, ge=1, le=1440, description="Minutes, with validity TTL.")
    disclosed_quantity: int | None = Field(None, ge=0)
    tag: str | None = Field(None, pattern=_TAG, description="Up to 20 letters and digits, to find the order later.")
    market_protection: MarketProtection | None = Field(
        None, description="MARKET and SL-M only: -1 for Kite's automatic protection (the default), or a percentage "
                          "0 < x <= 100. Kite refuses MARKET and SL-M orders without it since April 2026.")
    autoslice: bool = Field(False, description="Let Kite split an order above the exchange's freeze quantity "
                                               "(at most 10 slices).")
    iceberg_legs: int | None = Field(None, ge=2, le=50, description="Variety iceberg: number of legs (2-50).")
    iceberg_quantity: int | None = Field(None, gt=0, description="Variety iceberg: quantity of each leg.")
    auction_number: str | None = Field(None, pattern=r"^[0-9]{1,10}$", description="Variety auction: the auction.")

    @model_validator(mode="after")
    def _prices_fit_order_type(self) -> PlaceOrderArgs:
        needs_price = self.order_type in ("LIMIT", "SL")
        needs_trigger = self.order_type in ("SL", "SL-M")
        if self.variety == "co":
            # A cover order is a MARKET or LIMIT entry with a compulsory stop-loss leg, intraday, DAY only
            # (Kite Connect v3 docs, "Orders"; pykiteconnect VARIETY_CO / PRODUCT_CO).
            if self.order_type not in ("MARKET", "LIMIT"):
                raise ValueError("a cover order (variety co) is a MARKET or LIMIT order")
            if self.product not in ("CO", "MIS"):
                raise ValueError("a cover order (variety co) is intraday: product CO (or MIS)")
            if self.validity not in (None, "DAY"):
                raise ValueError("a cover order (variety co) is valid for the DAY only")
            needs_trigger = True
        elif self.product == "CO":
            raise ValueError("product CO goes with variety co only")
        if needs_price and self.price is None:
            raise ValueError(f"{self.order_type} orders need a price")
        if not needs_price and self.price is not None:
            raise ValueError(f"{self.order_type} orders take no price")
        if needs_trigger and self.trigger_price is None:
            raise ValueError("cover orders need a stop-loss trigger_price" if self.variety == "co"
                             else f"{self.order_type} orders need a trigger_price")
        if not needs_trigger and self.trigger_price is not None:
            raise ValueError(f"{self.order_type} orders take no trigger_price")
        if (self.validity == "TTL") != (self.validity_ttl is not None):
            raise ValueError("validity_ttl goes with validity TTL, and only with it")
        self.market_protection = protection_for(self.order_type, self.market_protection)
        if self.exchange == "MCX" and self.validity == "IOC":
            raise ValueError("IOC orders are not allowed on MCX for API orders (Kite's rule since April 2026); "
                             "use validity DAY")
        iceberg = self.iceberg_legs is not None or self.iceberg_quantity is not None
        if (self.variety == "iceberg") != iceberg or (iceberg and None in (self.iceberg_legs, self.iceberg_quantity)):
            raise ValueError("iceberg_legs and iceberg_quantity go together with variety iceberg, and only with it")
        if self.iceberg_quantity is not None and self.iceberg_quantity > self.quantity:
            raise ValueError("iceberg_quantity is more than the order's quantity")
        if (self.variety == "auction") != (self.auction_number is not None):
            raise ValueError("auction_number goes with variety auction, and only with it")
        if self.autoslice and self.variety in ("iceberg", "auction", "co"):
            raise ValueError(f"autoslice does not go with variety {self.variety}")
        return self


class ApprovalArgs(NoAccountArgs):
    approval_id: int = Field(ge=1, description="The approval_id an order tool answered with.")


class ModifyOrderArgs(ToolArgs):
    variety: Variety = "regular"
    order_id: OrderId
    quantity: int | None = Field(None, gt=0, le=1_000_000)
    price: Price | None = None
    trigger_price: Price | None = None
    order_type: OrderType | None = None
    validity: Literal["DAY", "IOC"] | None = None
    disclosed_quantity: int | None = Field(None, ge=0)
    market_protection: MarketProtection | None = Field(
        None, description="-1 (automatic) or a percentage 0 < x <= 100, for a MARKET or SL-M order; -1 when the "
                          "order becomes MARKET or SL-M here and none is given.")

    @model_validator(mode="after")
    def _something_changes(self) -> ModifyOrderArgs:
        if all(getattr(self, f) is None for f in ("quantity", "price", "trigger_price", "order_type", "validity",
                                                   "disclosed_quantity", "market_protection")):
            raise ValueError("nothing to modify: give at least one of quantity, price, trigger_price, order_type, "
                             "validity, disclosed_quantity, market_protection")
        if self.order_type is not None:
            self.market_protection = protection_for(self.order_type, self.market_protection)
        return self


class CancelOrderArgs(ToolArgs):
    variety: Variety = "regular"
    order_id: OrderId


class ExitOrderArgs(ToolArgs):
    variety: Literal["co"] = Field("co", description="Cover orders are what exit_order exits.")
    order_id: OrderId = Field(description="The cover order's second leg (its stop-loss), or the order itself.")
    parent_order_id: OrderId | None = None


class OrdersArgs(ToolArgs):
    """A list of Kite order objects, for the margin and charges calculators."""

    orders: list[MarginOrder] = Field(min_length=1, max_length=50)


class BasketArgs(OrdersArgs):
    consider_positions: bool = Field(True, description="Count today's open positions (hedges lower the margin).")


class ChargesArgs(ToolArgs):
    orders: list[ChargeOrder] = Field(min_length=1, max_length=50)


class TriggerArgs(ToolArgs):
    trigger_id: int = Field(ge=1, description="A GTT's trigger_id (get_gtts lists them).")


class GttOrder(Args):
    transaction_type: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0, le=1_000_000)
    price: Price = Field(description="The LIMIT price the order is placed at when the trigger fires.")
    order_type: Literal["LIMIT"] = "LIMIT"
    product: Literal["CNC", "NRML"] = Field("CNC", description="CNC for equity, NRML for F&O (Kite's rule).")


class GttArgs(ToolArgs):
    trigger_type: Literal["single", "two-leg"]
    exchange: Exchange
    tradingsymbol: Symbol
    trigger_values: list[Price] = Field(min_length=1, max_length=2, description="One for single; two, lower then "
                                                                                  "upper, for two-leg (OCO).")
    last_price: Price = Field(description="The instrument's last price now (get_ltp), which Kite checks the "
                                          "triggers against.")
    orders: list[GttOrder] = Field(min_length=1, max_length=2, description="One order per trigger value, in the "
                                                                           "same order.")

    @model_validator(mode="after")
    def _legs(self) -> GttArgs:
        legs = 1 if self.trigger_type == "single" else 2
        if len(self.trigger_values) != legs:
            raise ValueError(f"a {self.trigger_type} GTT takes {legs} trigger value(s), not {len(self.trigger_values)}")
        if len(self.orders) != legs:
            raise ValueError(f"a {self.trigger_type} GTT takes {legs} order(s), one per trigger value")
        if legs == 2 and not self.trigger_values[0] < self.last_price < self.trigger_values[1]:
            raise ValueError("a two-leg GTT's trigger values are ascending, the last price between them (lower: "
                             "the stop-loss, upper: the target)")
        if legs == 1 and self.trigger_values[0] == self.last_price:
            raise ValueError("the trigger value must differ from the last price")
        return self


class ModifyGttArgs(GttArgs):
    trigger_id: int = Field(ge=1)


class MfInstrumentArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=64, description='Scheme name or code, e.g. "nifty index direct".')
    limit: int = Field(20, ge=1, le=100)


class MfOrderIdArgs(ToolArgs):
    order_id: OrderId


class MfOrdersArgs(ToolArgs):
    order_id: OrderId | None = Field(None, description="One order; all of them (the last 7 days) when omitted.")


class SipIdArgs(ToolArgs):
    sip_id: OrderId


class MfSipsArgs(ToolArgs):
    sip_id: OrderId | None = Field(None, description="One SIP; all of them when omitted.")


MfSymbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{8,20}$", description="The scheme's code (ISIN), e.g. "
                                                                         '"INF209K01157" (search_mf_instruments).')]
Rupees = Annotated[float, Field(gt=0, lt=10_000_000_000)]


class MfOrderArgs(ToolArgs):
    tradingsymbol: MfSymbol
    transaction_type: Literal["BUY", "SELL"]
    amount: Rupees | None = Field(None, description="BUY: the rupees to invest.")
    quantity: float | None = Field(None, gt=0, description="SELL: the units to redeem.")
    tag: str | None = Field(None, pattern=_TAG)

    @model_validator(mode="after")
    def _by_side(self) -> MfOrderArgs:
        if self.transaction_type == "BUY" and (self.amount is None or self.quantity is not None):
            raise ValueError("a BUY takes an amount (rupees), not a quantity")
        if self.transaction_type == "SELL" and (self.quantity is None or self.amount is not None):
            raise ValueError("a SELL takes a quantity (units), not an amount")
        return self


Frequency = Literal["weekly", "monthly", "quarterly"]


class MfSipArgs(ToolArgs):
    tradingsymbol: MfSymbol
    amount: Rupees = Field(description="Rupees per instalment.")
    instalments: int = Field(ge=-1, le=1000, description="How many instalments; -1 until cancelled.")
    frequency: Frequency
    instalment_day: int | None = Field(None, ge=1, le=28, description="Monthly and quarterly: the day of the month.")
    initial_amount: Rupees | None = Field(None, description="A first purchase now, besides the instalments.")
    tag: str | None = Field(None, pattern=_TAG)

    @model_validator(mode="after")
    def _schedule(self) -> MfSipArgs:
        if self.instalments == 0:
            raise ValueError("instalments is at least 1 (or -1: until cancelled)")
        if self.frequency == "weekly" and self.instalment_day is not None:
            raise ValueError("a weekly SIP takes no instalment_day")
        return self


class ModifySipArgs(ToolArgs):
    sip_id: OrderId
    amount: Rupees | None = None
    status: Literal["active", "paused"] | None = None
    instalments: int | None = Field(None, ge=-1, le=1000)
    frequency: Frequency | None = None
    instalment_day: int | None = Field(None, ge=1, le=28)

    @model_validator(mode="after")
    def _something(self) -> ModifySipArgs:
        if all(getattr(self, f) is None for f in ("amount", "status", "instalments", "frequency", "instalment_day")):
            raise ValueError("nothing to modify: give amount, status, instalments, frequency or instalment_day")
        if self.instalments == 0:
            raise ValueError("instalments is at least 1 (or -1: until cancelled)")
        return self


class ConvertArgs(ToolArgs):
    exchange: Exchange
    tradingsymbol: Symbol
    transaction_type: Literal["BUY", "SELL"] = Field(description="The position's side (BUY for a long one).")
    position_type: Literal["day", "overnight"]
    quantity: int = Field(gt=0, le=1_000_000)
    old_product: Product
    new_product: Product

    @model_validator(mode="after")
    def _different(self) -> ConvertArgs:
        if self.old_product == self.new_product:
            raise ValueError("old_product and new_product are the same")
        return self


class HistoryArgs(ToolArgs):
    from_date: str = Field(description="The first day, YYYY-MM-DD (IST).")
    to_date: str = Field(description="The last day, YYYY-MM-DD (IST); at most 366 days from from_date.")

    @model_validator(mode="after")
    def _range(self) -> HistoryArgs:
        from kite.history import day_range

        day_range(self.from_date, self.to_date)
        return self


# --- Handlers ---------------------------------------------------------------------------------------

RateClass = Literal["quote", "historical", "orders", "other"]  # Kite's per-key limits (kite.ratelimit)


class ToolContext(Protocol):
    """What a handler sees: who calls, on which account, and calls to Kite through its cached client."""

    user: Any
    account: Account | None
    account_ids: Collection[int] | None  # the accounts this caller may use (None: all of the user's)

    def call(self, method: str, *args: Any, rate_class: RateClass | None = None, **kwargs: Any) -> Any:
        """Call a client method, spending the tool's rate class unless another is named."""
        ...

    def instruments(self) -> Any: ...

    def mf_instruments(self) -> Any:
        """The day's mutual-fund master, indexed (kite.instruments.InstrumentIndex)."""
        ...

    def last_price(self, instrument: str) -> float | None:
        """Kite's last price of an instrument, or None when Kite could not say."""
        ...


def _read(method: str, *arg_names: str) -> Callable[[ToolContext, ToolArgs], Any]:
    def handler(ctx: ToolContext, args: ToolArgs) -> Any:
        return ctx.call(method, *[getattr(args, n) for n in arg_names])
    return handler


def _chunked(method: str, cap: int) -> Callable[[ToolContext, Any], Any]:
    """Kite caps instruments per call: split the list, call once per chunk, merge the answers."""
    def handler(ctx: ToolContext, args: Any) -> Any:
        wanted = list(dict.fromkeys(args.instruments))  # de-duplicated, order kept
        merged: dict[str, Any] = {}
        for start in range(0, len(wanted), cap):
            merged.update(ctx.call(method, wanted[start:start + cap]) or {})
        if not merged:
            raise UnknownInstrument(f"Kite knows none of these instruments: {', '.join(wanted[:10])}.")
        return merged
    return handler


def _historical(ctx: ToolContext, args: HistoricalArgs) -> Any:
    token = args.instrument_token
    if token is None:
        assert args.instrument is not None
        exchange, symbol = args.instrument.split(":", 1)
        row = ctx.instruments().get(exchange, symbol)
        if row is None:
            raise UnknownInstrument(f"Unknown instrument {args.instrument!r}; search_instruments finds the right "
                                    "symbol.")
        token = int(row["instrument_token"])
    return ctx.call("historical_data", token, parse_when(args.from_date), parse_when(args.to_date), args.interval,
                    continuous=args.continuous, oi=args.oi)


def _search(ctx: ToolContext, args: SearchArgs) -> Any:
    return ctx.instruments().search(args.query, exchange=args.exchange, limit=args.limit)


def _list_accounts(ctx: ToolContext, args: NoAccountArgs) -> Any:
    from accounts.selectors import account_statuses

    return {"accounts": account_statuses(user=ctx.user, account_ids=ctx.account_ids, switches=True)}


def _login(ctx: ToolContext, args: ToolArgs) -> Any:
    from kite.services.login import login_url

    account = ctx.account
    assert account is not None
    return {
        "account_id": account.pk, "account": account.name, "environment": account.environment,
        "login_url": login_url(account=account),
        "next": "Open login_url in a browser and log in to Kite. Kite sends you back to the Kite Desk web app, "
                "which completes the session once you are signed in to Kite Desk as the account's owner (the app "
                "must be running); then the tools work on this account.",
    }


def _get_approval(ctx: ToolContext, args: ApprovalArgs) -> Any:
    from kite.services.approvals import approval_get, approval_json

    return approval_json(approval_get(user=ctx.user, approval_id=args.approval_id, account_ids=ctx.account_ids))


def _preview(ctx: ToolContext, args: PlaceOrderArgs) -> Any:
    """What place_order would cost, without placing it: value, Kite's margin and charges, the guardrails."""
    from kite.errors import KiteError, ServiceError
    from kite.services.guardrails import guardrail_problems, order_value

    assert ctx.account is not None
    exposure = _exposure(args)
    prices: dict[str, float | None] = {}

    def last_price() -> float | None:
        if "ltp" not in prices:
            prices["ltp"] = ctx.last_price(exposure.instrument)
        return prices["ltp"]

    value = order_value(exposure, last_price=last_price)
    order = {"exchange": args.exchange, "tradingsymbol": args.tradingsymbol, "transaction_type": args.transaction_type,
             "variety": args.variety, "product": args.product, "order_type": args.order_type,
             "quantity": args.quantity, "price": args.price or 0, "trigger_price": args.trigger_price or 0}
    answer: dict[str, Any] = {"order_value": round(value, 2) if value is not None else None, "margin": None,
                              "charges": None}
    unavailable: dict[str, str] = {}
    per_unit = value / args.quantity if value is not None else None
    asks = [("margin", "order_margins", order)]
    if per_unit is not None:
        note = {**order, "order_id": "preview", "average_price": per_unit}
        asks.append(("charges", "get_virtual_contract_note", note))
    else:
        unavailable["charges"] = "No price to work the charges out from (Kite gave no last price)."
    for key, method, body in asks:
        try:
            result = ctx.call(method, [body], rate_class="other")
            answer[key] = result[0] if isinstance(result, list) and result else result
        except KiteError as exc:
            if exc.error_type == "TokenException":
                raise
            unavailable[key] = f"Kite: {exc.message}"
        except ServiceError as error:
            unavailable[key] = error.message
    problems = guardrail_problems(account=ctx.account, exposure=exposure, last_price=last_price)
    answer["guardrails"] = {"ok": not problems, "problems": problems}
    if unavailable:
        answer["unavailable"] = unavailable  # never shown as zero: what could not be fetched, and why
    return answer


def _calculator(method: str) -> Callable[[ToolContext, Any], Any]:
    """Kite's margin and charges calculators take a JSON list of order objects."""
    def handler(ctx: ToolContext, args: Any) -> Any:
        orders = [o.model_dump() for o in args.orders]
        if isinstance(args, BasketArgs):
            return ctx.call(method, orders, consider_positions=args.consider_positions)
        return ctx.call(method, orders)
    return handler


def _optional_id(method: str, name: str) -> Callable[[ToolContext, Any], Any]:
    def handler(ctx: ToolContext, args: Any) -> Any:
        value = getattr(args, name)
        return ctx.call(method, value) if value is not None else ctx.call(method)
    return handler


def _search_mf(ctx: ToolContext, args: MfInstrumentArgs) -> Any:
    return ctx.mf_instruments().search(args.query, limit=args.limit)


def _gtt_payload(args: GttArgs) -> dict[str, Any]:
    return {"trigger_type": args.trigger_type, "tradingsymbol": args.tradingsymbol, "exchange": args.exchange,
            "trigger_values": list(args.trigger_values), "last_price": args.last_price,
            "orders": [o.model_dump() for o in args.orders]}


def _place_gtt(ctx: ToolContext, args: GttArgs) -> Any:
    return ctx.call("place_gtt", **_gtt_payload(args))  # {"trigger_id": ...}


def _modify_gtt(ctx: ToolContext, args: ModifyGttArgs) -> Any:
    return ctx.call("modify_gtt", trigger_id=args.trigger_id, **_gtt_payload(args))


def _delete_gtt(ctx: ToolContext, args: TriggerArgs) -> Any:
    return ctx.call("delete_gtt", args.trigger_id)


def _place_mf(ctx: ToolContext, args: MfOrderArgs) -> Any:
    return {"order_id": ctx.call("place_mf_order", args.tradingsymbol, args.transaction_type, quantity=args.quantity,
                                 amount=args.amount, tag=args.tag).get("order_id")}


def _cancel_mf(ctx: ToolContext, args: MfOrderIdArgs) -> Any:
    answer = ctx.call("cancel_mf_order", args.order_id)
    return answer if isinstance(answer, dict) else {"order_id": args.order_id}


def _place_sip(ctx: ToolContext, args: MfSipArgs) -> Any:
    return ctx.call("place_mf_sip", args.tradingsymbol, args.amount, args.instalments, args.frequency,
                    initial_amount=args.initial_amount, instalment_day=args.instalment_day, tag=args.tag)


def _modify_sip(ctx: ToolContext, args: ModifySipArgs) -> Any:
    return ctx.call("modify_mf_sip", args.sip_id, amount=args.amount, status=args.status,
                    instalments=args.instalments, frequency=args.frequency, instalment_day=args.instalment_day)


def _cancel_sip(ctx: ToolContext, args: SipIdArgs) -> Any:
    answer = ctx.call("cancel_mf_sip", args.sip_id)
    return answer if isinstance(answer, dict) else {"sip_id": args.sip_id}


def _history(selector: str) -> Callable[[ToolContext, HistoryArgs], Any]:
    """A read of Kite Desk's own history (kite.selectors): the database, not Kite."""
    def handler(ctx: ToolContext, args: HistoryArgs) -> Any:
        from kite import selectors
        from kite.history import day_range

        assert ctx.account is not None
        start, end = day_range(args.from_date, args.to_date)
        return getattr(selectors, selector)(account=ctx.account, from_date=start, to_date=end)
    return handler


def _convert(ctx: ToolContext, args: ConvertArgs) -> Any:
    return {"converted": bool(ctx.call("convert_position", **args.model_dump(exclude={"account_id"})))}


def _exit(ctx: ToolContext, args: ExitOrderArgs) -> Any:
    return {"order_id": ctx.call("exit_order", args.variety, args.order_id, parent_order_id=args.parent_order_id)}


def _order_kwargs(args: ToolArgs) -> dict[str, Any]:
    return {k: v for k, v in args.model_dump(exclude={"account_id"}).items() if v is not None}


def _place(ctx: ToolContext, args: PlaceOrderArgs) -> Any:
    kwargs = _order_kwargs(args)
    if kwargs.pop("autoslice"):
        return ctx.call("place_autoslice_order", **kwargs)  # {"order_id": parent, "children": [...]}
    return {"order_id": ctx.call("place_order", **kwargs)}


def _modify(ctx: ToolContext, args: ModifyOrderArgs) -> Any:
    return {"order_id": ctx.call("modify_order", **_order_kwargs(args))}


def _cancel(ctx: ToolContext, args: CancelOrderArgs) -> Any:
    return {"order_id": ctx.call("cancel_order", variety=args.variety, order_id=args.order_id)}


# --- How write tools describe themselves to a human ------------------------------------------------

def money(value: float | None) -> str:
    """An amount as a trader in India reads it: 1,00,895.90 (lakh and crore grouping)."""
    if value is None:
        return "-"
    return numberformat.format(value, ".", decimal_pos=2, grouping=(3, 2, 0), thousand_sep=",", force_grouping=True)


def _describe_place(a: PlaceOrderArgs) -> str:
    words = [f"{a.transaction_type} {a.quantity} × {a.exchange}:{a.tradingsymbol}",
             a.order_type + (f" at {money(a.price)}" if a.price is not None else "")]
    if a.trigger_price is not None:
        words.append(f"stop-loss trigger {money(a.trigger_price)}" if a.variety == "co"
                     else f"trigger price {money(a.trigger_price)}")
    if a.market_protection is not None:
        words.append(f"market protection {_protection_words(a.market_protection)}")
    words += [f"product {a.product}", f"variety {a.variety}",
              f"validity {a.validity or 'DAY (Kite default)'}"
              + (f" ({a.validity_ttl} min)" if a.validity_ttl is not None else "")]
    if a.disclosed_quantity is not None:
        words.append(f"disclosed quantity {a.disclosed_quantity}")
    if a.tag is not None:
        words.append(f"tag {a.tag}")
    if a.iceberg_legs is not None:
        words.append(f"{a.iceberg_legs} iceberg legs of {a.iceberg_quantity}")
    if a.auction_number is not None:
        words.append(f"auction {a.auction_number}")
    if a.autoslice:
        words.append("sliced by Kite above the freeze quantity")
    return ", ".join(words)


def _protection_words(value: float) -> str:
    return "automatic (-1)" if value == -1 else f"{value:g}%"


def _exposure(a: PlaceOrderArgs) -> Exposure:
    return Exposure(exchange=a.exchange, tradingsymbol=a.tradingsymbol, transaction_type=a.transaction_type,
                    quantity=a.quantity, order_type=a.order_type, price=a.price, trigger_price=a.trigger_price)


def _describe_modify(a: ModifyOrderArgs) -> str:
    def shown(k: str, v: Any) -> str:
        return money(v) if k in ("price", "trigger_price") else _protection_words(v) if k == "market_protection" \
            else str(v)
    changes = [f"{k.replace('_', ' ')} → {shown(k, v)}"
               for k in ("quantity", "price", "trigger_price", "order_type", "validity", "disclosed_quantity",
                         "market_protection")
               if (v := getattr(a, k)) is not None]
    return f"order {a.order_id} ({a.variety}): " + ", ".join(changes)


def _describe_cancel(a: CancelOrderArgs) -> str:
    return f"order {a.order_id} ({a.variety})"


def _order_now(ctx: ToolContext, a: Any) -> str:
    history = ctx.call("order_history", a.order_id, rate_class="other") or []
    o = history[-1] if history else {}
    price = f" at {money(float(o['price']))}" if o.get("price") else ""
    return (f"now {o.get('transaction_type', '?')} {o.get('quantity', '?')} {o.get('exchange', '?')}:"
            f"{o.get('tradingsymbol', '?')} {o.get('order_type', '')}{price}, {o.get('product', '')}, "
            f"{o.get('status', '')}")


def _gtt_now(ctx: ToolContext, a: Any) -> str:
    gtt = ctx.call("get_gtt", a.trigger_id, rate_class="other") or {}
    condition = gtt.get("condition") or {}
    triggers = " / ".join(money(float(v)) for v in condition.get("trigger_values") or [])
    return f"now {condition.get('exchange', '?')}:{condition.get('tradingsymbol', '?')} at {triggers}, " \
           f"{gtt.get('status', '')}"


def _mf_order_now(ctx: ToolContext, a: Any) -> str:
    o = ctx.call("mf_orders", a.order_id, rate_class="other") or {}
    what = f"₹{money(float(o['amount']))}" if o.get("amount") else f"{o.get('quantity', '?')} units"
    return f"now {o.get('transaction_type', '?')} {what} of {o.get('fund') or o.get('tradingsymbol', '?')}, " \
           f"{o.get('status', '')}"


def _sip_now(ctx: ToolContext, a: Any) -> str:
    p = ctx.call("mf_sips", a.sip_id, rate_class="other") or {}
    amount = money(float(p["instalment_amount"])) if p.get("instalment_amount") else "?"
    return f"now ₹{amount} {p.get('frequency', '')} into {p.get('fund') or p.get('tradingsymbol', '?')}, " \
           f"{p.get('status', '')}"


def _describe_gtt(a: GttArgs) -> str:
    """"SELL 10 NSE:INFY at 1,450.00 (LIMIT, CNC) if the price falls to 1,455.00; or SELL 10 at 1,720.00 if it
    rises to 1,715.00" - what fires when."""
    legs = []
    for n, (trigger, order) in enumerate(zip(a.trigger_values, a.orders, strict=True)):
        way = "falls" if trigger < a.last_price else "rises"
        what = f"{a.exchange}:{a.tradingsymbol} " if n == 0 else ""
        legs.append(f"{order.transaction_type} {order.quantity} {what}at {money(order.price)}"
                    + (f" ({order.order_type}, {order.product})" if n == 0 else "")
                    + f" if {'the price' if n == 0 else 'it'} {way} to {money(trigger)}")
    prefix = f"trigger {a.trigger_id}: " if isinstance(a, ModifyGttArgs) else ""
    return prefix + "; or ".join(legs) + f" (last price {money(a.last_price)})"


def _describe_mf(a: MfOrderArgs) -> str:
    what = f"₹{money(a.amount)} of" if a.amount is not None else f"{a.quantity:g} units of"
    return f"{a.transaction_type} {what} {a.tradingsymbol}" + (f", tag {a.tag}" if a.tag else "")


def _describe_sip(a: MfSipArgs) -> str:
    when = a.frequency + (f" on day {a.instalment_day}" if a.instalment_day else "")
    count = "until cancelled" if a.instalments == -1 else f"{a.instalments} instalments"
    first = f", ₹{money(a.initial_amount)} at once" if a.initial_amount else ""
    return f"₹{money(a.amount)} {when} into {a.tradingsymbol}, {count}{first}"


def _describe_sip_change(a: ModifySipArgs) -> str:
    changes = [f"{k.replace('_', ' ')} → {money(v) if k == 'amount' else v}"
               for k in ("amount", "status", "instalments", "frequency", "instalment_day")
               if (v := getattr(a, k)) is not None]
    return f"SIP {a.sip_id}: " + ", ".join(changes)


def _describe_convert(a: ConvertArgs) -> str:
    return (f"{a.quantity} of the {a.position_type} {a.transaction_type} position in {a.exchange}:{a.tradingsymbol} "
            f"from {a.old_product} to {a.new_product}")


# --- The registry -----------------------------------------------------------------------------------

_ENVIRONMENT_WORDS = {"sandbox": "sandbox account: paper money", "live": "LIVE account: real money"}
_CHECK_ORDERS = "check today's orders (get_orders) before you try again."


@dataclass(frozen=True)
class Exposure:
    """What a new order would put on the market: what guardrails, duplicates and previews look at."""

    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: int
    order_type: str
    price: float | None = None
    trigger_price: float | None = None

    @property
    def instrument(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def key(self) -> str:
        """Identical orders share a key: exchange, symbol, side, quantity, type and price."""
        return "|".join(str(v) for v in (self.exchange, self.tradingsymbol, self.transaction_type, self.quantity,
                                          self.order_type, self.price, self.trigger_price))


@dataclass(frozen=True)
class Write:
    """What makes a write tool safe: its own words for the human, and what it creates at Kite."""

    describe: Callable[[Any], str]  # the validated arguments -> what will be sent, in words a trader checks
    creates: str | None = "order_id"  # the field of the handler's answer naming what Kite created or changed
    unknown_outcome: str = _CHECK_ORDERS  # what to do when the answer was lost after sending
    opens: Callable[[Any], Exposure] | None = None  # a new order it would place: guardrails apply to it
    preview: str | None = None  # a read tool that takes the same arguments and shows what it would cost
    # For a write on something that exists (an order, a GTT, a SIP): what it is now, in words, read from Kite
    # for the human who confirms it ("now BUY 5 NSE:INFY LIMIT at 1,500.00, CNC, OPEN").
    recognise: Callable[[Any, Any], str] | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    args: type[Args]
    handler: Callable[[ToolContext, Any], Any] = field(repr=False)
    rate_class: RateClass = "other"
    write: Write | None = None  # None: a read (no trading gate, no confirmation, no audit)
    needs_session: bool = True  # False: works on an account without a Kite session (login)
    reaches_kite: bool = True  # False: answers from Kite Desk's own data (MCP openWorldHint)
    idempotent: bool = True  # reads only: False when a repeat changes something (login issues a new URL)

    @property
    def read_only(self) -> bool:
        return self.write is None

    @property
    def needs_account(self) -> bool:
        return "account_id" in self.args.model_fields

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return schema

    def validate(self, arguments: Any) -> Args:
        if not isinstance(arguments, dict):
            raise InvalidInput("args must be a JSON object.", fields={"args": ["Expected a JSON object."]})
        try:
            return self.args.model_validate(arguments)
        except ValidationError as exc:
            raise invalid_arguments(self.name, exc) from None

    def summary(self, args: Args, account: Account | None, details: str = "") -> str:
        """One sentence for the human: what this write does, on which account, with every parameter, and
        (`details`, from Write.recognise) what the thing it changes is now."""
        assert self.write is not None, f"{self.name} is a read"
        where = ""
        if account is not None:
            words = _ENVIRONMENT_WORDS.get(account.environment, account.environment)
            where = f' on Kite account "{account.name}" ({words})'
        return f"{self.title}{where}: {self.write.describe(args)}" + (f" ({details})" if details else "") + "."


def invalid_arguments(tool_name: str, exc: ValidationError) -> InvalidInput:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "args"
        message = re.sub(r"^Value error, ", "", error["msg"])
        fields.setdefault(where, []).append(message)
    where, messages = next(iter(fields.items()))
    return InvalidInput(f"Invalid arguments for {tool_name} ({where}: {messages[0]}).", fields=fields)


_READS = "Read-only."
TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("list_accounts", "Your Kite accounts",
         "The Kite accounts you may use here: id, name, environment (live or sandbox), status (connected, "
         "expired, needs_login, needs_credentials), when the session ends (IST), and whether trading is enabled "
         f"and orders need your confirmation. {_READS}",
         NoAccountArgs, _list_accounts, needs_session=False, reaches_kite=False),
    Tool("login", "Log in to Kite",
         "The Kite login URL for an account. Give it to the user: they open it in a browser and log in to Kite, "
         "and the Kite Desk web app completes the session; the tools then work on that account, no restart "
         "needed. Needed when a tool answers session_expired (Kite sessions end every morning at 06:00 IST). "
         "Does not trade.",
         ToolArgs, _login, needs_session=False, reaches_kite=False, idempotent=False),
    Tool("get_profile", "Profile",
         f"The Kite user's profile: id, name, email, enabled exchanges and products. {_READS}",
         ToolArgs, _read("profile")),
    Tool("get_margins", "Funds and margins",
         f"Available cash, margin used and net balance, per segment (equity, commodity). {_READS}",
         MarginsArgs, _read("margins", "segment")),
    Tool("get_holdings", "Holdings",
         f"Long-term equity holdings (demat): quantity, average price, last price, P&L, day change. {_READS}",
         ToolArgs, _read("holdings")),
    Tool("get_positions", "Positions",
         f"Today's and carried-forward positions (net and day), with realised and unrealised P&L. {_READS}",
         ToolArgs, _read("positions")),
    Tool("get_orders", "Today's orders", f"All orders of the trading day, with their current status. {_READS}",
         ToolArgs, _read("orders")),
    Tool("get_order_history", "Order history", f"Every state an order went through, oldest first. {_READS}",
         OrderHistoryArgs, _read("order_history", "order_id")),
    Tool("get_trades", "Today's trades", f"All executed trades of the trading day. {_READS}", ToolArgs,
         _read("trades")),
    Tool("get_trade_history", "Trade history",
         "Trades recorded on the account between two days (Kite itself keeps only today's), with realised P&L per "
         "day (FIFO per instrument, before charges) and the days whose trades were read (snapshot_days: on "
         "other days nothing is known). Kept by Kite Desk's daily `manage.py snapshot`; answers from Kite "
         f"Desk's records, no Kite session needed. {_READS}",
         HistoryArgs, _history("trade_history"), needs_session=False, reaches_kite=False),
    Tool("get_portfolio_history", "Portfolio history",
         "End-of-day holdings snapshots of the account between two days: per day the value at the close, the "
         "amount invested, unrealised P&L and each holding. Days without a snapshot are left out (unknown, not "
         f"zero). From Kite Desk's records, no Kite session needed. {_READS}",
         HistoryArgs, _history("portfolio_history"), needs_session=False, reaches_kite=False),
    Tool("get_quotes", "Full quotes",
         f"Full market quotes (last price, OHLC, volume, depth, circuit limits) keyed by instrument. {_READS}",
         QuoteArgs, _chunked("quote", 500), rate_class="quote"),
    Tool("get_ohlc", "OHLC", f"Open, high, low, previous close and last price, keyed by instrument. {_READS}",
         OhlcArgs, _chunked("ohlc", 1000), rate_class="quote"),
    Tool("get_ltp", "Last traded price", f"Last traded price, keyed by instrument. {_READS}",
         OhlcArgs, _chunked("ltp", 1000), rate_class="quote"),
    Tool("get_historical_data", "Historical candles",
         "OHLCV candles for one instrument between two IST times at an interval (minute ... day). Kite limits the "
         f"range per call (e.g. 60 days of minute candles, 2000 days of day candles). {_READS}",
         HistoricalArgs, _historical, rate_class="historical"),
    Tool("search_instruments", "Search instruments",
         "Find instruments by trading symbol or company name; gives exchange, tradingsymbol, instrument_token, "
         f"lot size and tick size to use in other tools. {_READS}",
         SearchArgs, _search),
    Tool("preview_order", "Preview an order",
         "What place_order with the same arguments would do, without placing anything: the order's value, the "
         "margin Kite would block, Kite's charges (brokerage, STT, exchange, SEBI, stamp duty, GST) and whether "
         f"the account's guardrails allow it. {_READS}",
         PlaceOrderArgs, _preview, rate_class="other"),
    Tool("get_approval", "An order waiting for approval",
         "One approval by approval_id: its status (pending, approved, declined, expired, failed), the order, and "
         "once approved the order_id Kite gave it, or Kite's error. Orders from clients that cannot ask you to "
         f"confirm wait for your Approve on the web app's approval page. {_READS}",
         ApprovalArgs, _get_approval, needs_session=False, reaches_kite=False),
    Tool("place_order", "Place an order",
         "Place a real order on the account (a paper order on a sandbox account). Needs trading enabled on the "
         "account; the human confirms it first (in the MCP client, or on the web app's approval page when the "
         "client cannot ask). LIMIT and SL need price; SL and SL-M need trigger_price; MARKET and SL-M get Kite's "
         "automatic market protection (-1) unless market_protection is given. The account's guardrails apply.",
         PlaceOrderArgs, _place, rate_class="orders",
         write=Write(_describe_place, opens=_exposure, preview="preview_order")),
    Tool("modify_order", "Modify an order",
         "Change quantity, price, trigger price, type or validity of an open order. Needs trading enabled.",
         ModifyOrderArgs, _modify, rate_class="orders", write=Write(_describe_modify, recognise=_order_now)),
    Tool("cancel_order", "Cancel an order", "Cancel an open order. Needs trading enabled.",
         CancelOrderArgs, _cancel, rate_class="orders", write=Write(_describe_cancel, recognise=_order_now)),
    Tool("exit_order", "Exit a cover order", "Exit a cover order (variety co) at the market: give the order_id of "
         "its second leg, and parent_order_id. Needs trading enabled.",
         ExitOrderArgs, _exit, rate_class="orders",
         write=Write(lambda a: f"cover order {a.order_id}" + (f" (parent {a.parent_order_id})"
                                                              if a.parent_order_id else ""),
                     recognise=_order_now)),
    Tool("get_order_trades", "An order's trades", f"The trades (fills) of one order. {_READS}",
         OrderHistoryArgs, _read("order_trades", "order_id")),
    Tool("get_order_margins", "Margins of orders",
         "The margin Kite would block for each order (SPAN, exposure, option premium, charges), from Kite's "
         f"calculator; nothing is placed. {_READS}", OrdersArgs, _calculator("order_margins")),
    Tool("get_basket_margins", "Margin of a basket",
         "The margin of several orders together, with the benefit of hedged F&O legs (initial and final), from "
         f"Kite's calculator; nothing is placed. {_READS}", BasketArgs, _calculator("basket_order_margins")),
    Tool("get_order_charges", "Charges of orders",
         "Kite's virtual contract note for executed (or hypothetical) orders: brokerage, STT/CTT, exchange "
         f"turnover, SEBI fee, stamp duty and GST. {_READS}", ChargesArgs, _calculator("get_virtual_contract_note")),
    Tool("get_gtts", "GTT triggers", f"The account's GTTs (good-till-triggered orders): active and past. {_READS}",
         ToolArgs, _read("get_gtts")),
    Tool("get_gtt", "A GTT trigger", f"One GTT by trigger_id, with its condition, orders and status. {_READS}",
         TriggerArgs, _read("get_gtt", "trigger_id")),
    Tool("place_gtt", "Place a GTT",
         "A good-till-triggered order, lasting a year: single (one trigger, one LIMIT order) or two-leg (OCO: a "
         "stop-loss below and a target above the last price, the first crossed fires). Kite's own parameters; "
         "CNC for equity, NRML for F&O. Needs trading enabled; the human confirms it first.",
         GttArgs, _place_gtt,
         write=Write(_describe_gtt, creates="trigger_id", unknown_outcome="check get_gtts before you try again.")),
    Tool("modify_gtt", "Modify a GTT", "Change a GTT's trigger values, last price and orders (all given again).",
         ModifyGttArgs, _modify_gtt,
         write=Write(_describe_gtt, creates="trigger_id", unknown_outcome="check get_gtt before you try again.",
                     recognise=_gtt_now)),
    Tool("delete_gtt", "Delete a GTT", "Delete a GTT trigger. Needs trading enabled.",
         TriggerArgs, _delete_gtt,
         write=Write(lambda a: f"GTT trigger {a.trigger_id}", creates="trigger_id",
                     unknown_outcome="check get_gtts before you try again.", recognise=_gtt_now)),
    Tool("get_mf_holdings", "Mutual fund holdings",
         f"Mutual fund units held: scheme, folio, quantity, average price, last NAV, P&L. {_READS}",
         ToolArgs, _read("mf_holdings")),
    Tool("get_mf_orders", "Mutual fund orders", f"Mutual fund orders of the last 7 days, or one by order_id. {_READS}",
         MfOrdersArgs, _optional_id("mf_orders", "order_id")),
    Tool("get_mf_sips", "SIPs", f"The account's SIPs (systematic investment plans), or one by sip_id. {_READS}",
         MfSipsArgs, _optional_id("mf_sips", "sip_id")),
    Tool("search_mf_instruments", "Search mutual funds",
         "Find mutual fund schemes by name, AMC or code; gives the tradingsymbol (ISIN) to use in place_mf_order "
         f"and place_mf_sip, with minimum amounts and the last NAV. {_READS}",
         MfInstrumentArgs, _search_mf),
    Tool("place_mf_order", "Buy or redeem a mutual fund",
         "A mutual fund order: BUY with an amount (rupees), SELL with a quantity (units); allotted at the NAV of "
         "its settlement day. Needs trading enabled; the human confirms it first.",
         MfOrderArgs, _place_mf,
         write=Write(_describe_mf, unknown_outcome="check get_mf_orders before you try again.")),
    Tool("cancel_mf_order", "Cancel a mutual fund order", "Cancel an open mutual fund order.",
         MfOrderIdArgs, _cancel_mf,
         write=Write(lambda a: f"mutual fund order {a.order_id}",
                     unknown_outcome="check get_mf_orders before you try again.", recognise=_mf_order_now)),
    Tool("place_mf_sip", "Start a SIP",
         "A systematic investment plan: an amount every week, month or quarter into one scheme, for a number of "
         "instalments (-1: until cancelled). Needs trading enabled; the human confirms it first.",
         MfSipArgs, _place_sip,
         write=Write(_describe_sip, creates="sip_id", unknown_outcome="check get_mf_sips before you try again.")),
    Tool("modify_mf_sip", "Change a SIP", "Change a SIP's amount, schedule or instalments, or pause or resume it.",
         ModifySipArgs, _modify_sip,
         write=Write(_describe_sip_change, creates="sip_id",
                     unknown_outcome="check get_mf_sips before you try again.", recognise=_sip_now)),
    Tool("cancel_mf_sip", "Cancel a SIP", "Cancel a SIP: no further instalments.",
         SipIdArgs, _cancel_sip,
         write=Write(lambda a: f"SIP {a.sip_id}", creates="sip_id",
                     unknown_outcome="check get_mf_sips before you try again.", recognise=_sip_now)),
    Tool("convert_position", "Convert a position",
         "Change an open position's product (e.g. an intraday MIS position to CNC delivery, or NRML), for some or "
         "all of its quantity. Needs trading enabled.",
         ConvertArgs, _convert,
         write=Write(_describe_convert, creates=None, unknown_outcome="check get_positions before you try again.")),
]}


def get_tool(name: Any) -> Tool:
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None:
        raise UnknownTool(f"Unknown tool {name!r}. GET /api/kite/tools lists them.", fields={"tool": ["Unknown tool."]})
    return tool


_SCALARS = (str, int, float, bool, type(None))


def to_json(value: Any) -> Any:
    """What Kite returned, as JSON: datetimes back in Kite's own forms."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
