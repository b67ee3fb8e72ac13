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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from accounts.models import Account
from kite.errors import InvalidInput, UnknownInstrument, UnknownTool

Exchange = Literal["NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"]
Variety = Literal["regular", "amo", "co", "iceberg", "auction"]
Product = Literal["CNC", "NRML", "MIS", "MTF"]
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


class NoAccountArgs(Args):
    pass


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
    trigger_price: Price | None = Field(None, description="Trigger price, for SL and SL-M orders.")
    validity: Validity | None = None
    validity_ttl: int | None = Field(None, ge=1, le=1440, description="Minutes, with validity TTL.")
    disclosed_quantity: int | None = Field(None, ge=0)
    tag: str | None = Field(None, pattern=_TAG, description="Up to 20 letters and digits, to find the order later.")

    @model_validator(mode="after")
    def _prices_fit_order_type(self) -> PlaceOrderArgs:
        needs_price = self.order_type in ("LIMIT", "SL")
        needs_trigger = self.order_type in ("SL", "SL-M")
        if needs_price and self.price is None:
            raise ValueError(f"{self.order_type} orders need a price")
        if not needs_price and self.price is not None:
            raise ValueError(f"{self.order_type} orders take no price")
        if needs_trigger and self.trigger_price is None:
            raise ValueError(f"{self.order_type} orders need a trigger_price")
        if not needs_trigger and self.trigger_price is not None:
            raise ValueError(f"{self.order_type} orders take no trigger_price")
        if (self.validity == "TTL") != (self.validity_ttl is not None):
            raise ValueError("validity_ttl goes with validity TTL, and only with it")
        return self


class ModifyOrderArgs(ToolArgs):
    variety: Variety = "regular"
    order_id: OrderId
    quantity: int | None = Field(None, gt=0, le=1_000_000)
    price: Price | None = None
    trigger_price: Price | None = None
    order_type: OrderType | None = None
    validity: Literal["DAY", "IOC"] | None = None
    disclosed_quantity: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _something_changes(self) -> ModifyOrderArgs:
        if all(getattr(self, f) is None for f in ("quantity", "price", "trigger_price", "order_type", "validity",
                                                   "disclosed_quantity")):
            raise ValueError("nothing to modify: give at least one of quantity, price, trigger_price, order_type, "
                             "validity, disclosed_quantity")
        return self


class CancelOrderArgs(ToolArgs):
    variety: Variety = "regular"
    order_id: OrderId


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
                "which completes the session (the app must be running); then the tools work on this account.",
    }


def _order_kwargs(args: ToolArgs) -> dict[str, Any]:
    return {k: v for k, v in args.model_dump(exclude={"account_id"}).items() if v is not None}


def _place(ctx: ToolContext, args: PlaceOrderArgs) -> Any:
    return {"order_id": ctx.call("place_order", **_order_kwargs(args))}


def _modify(ctx: ToolContext, args: ModifyOrderArgs) -> Any:
    return {"order_id": ctx.call("modify_order", **_order_kwargs(args))}


def _cancel(ctx: ToolContext, args: CancelOrderArgs) -> Any:
    return {"order_id": ctx.call("cancel_order", variety=args.variety, order_id=args.order_id)}


# --- How write tools describe themselves to a human ------------------------------------------------

def money(value: float | None) -> str:
    return f"{value:,.2f}" if value is not None else "-"


def _describe_place(a: PlaceOrderArgs) -> str:
    words = [f"{a.transaction_type} {a.quantity} × {a.exchange}:{a.tradingsymbol}",
             a.order_type + (f" at {money(a.price)}" if a.price is not None else "")]
    if a.trigger_price is not None:
        words.append(f"trigger price {money(a.trigger_price)}")
    words += [f"product {a.product}", f"variety {a.variety}",
              f"validity {a.validity or 'DAY (Kite default)'}"
              + (f" ({a.validity_ttl} min)" if a.validity_ttl is not None else "")]
    if a.disclosed_quantity is not None:
        words.append(f"disclosed quantity {a.disclosed_quantity}")
    if a.tag is not None:
        words.append(f"tag {a.tag}")
    return ", ".join(words)


def _describe_modify(a: ModifyOrderArgs) -> str:
    changes = [f"{k.replace('_', ' ')} → {money(v) if k in ('price', 'trigger_price') else v}"
               for k in ("quantity", "price", "trigger_price", "order_type", "validity", "disclosed_quantity")
               if (v := getattr(a, k)) is not None]
    return f"order {a.order_id} ({a.variety}): " + ", ".join(changes)


def _describe_cancel(a: CancelOrderArgs) -> str:
    return f"order {a.order_id} ({a.variety})"


# --- The registry -----------------------------------------------------------------------------------

_ENVIRONMENT_WORDS = {"sandbox": "sandbox account: paper money", "live": "LIVE account: real money"}
_CHECK_ORDERS = "check today's orders (get_orders) before you try again."


@dataclass(frozen=True)
class Write:
    """What makes a write tool safe: its own words for the human, and what it creates at Kite."""

    describe: Callable[[Any], str]  # the validated arguments -> what will be sent, in words a trader checks
    creates: str = "order_id"  # the field of the handler's answer naming what Kite created or changed
    unknown_outcome: str = _CHECK_ORDERS  # what to do when the answer was lost after sending


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

    def summary(self, args: Args, account: Account | None) -> str:
        """One sentence for the human: what this write does, on which account, with every parameter."""
        assert self.write is not None, f"{self.name} is a read"
        where = ""
        if account is not None:
            words = _ENVIRONMENT_WORDS.get(account.environment, account.environment)
            where = f' on Kite account "{account.name}" ({words})'
        return f"{self.title}{where}: {self.write.describe(args)}."


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
    Tool("place_order", "Place an order",
         "Place a real order on the account (a paper order on a sandbox account). Needs trading enabled on the "
         "account; over MCP the human confirms it first. LIMIT and SL need price; SL and SL-M need trigger_price.",
         PlaceOrderArgs, _place, rate_class="orders", write=Write(_describe_place)),
    Tool("modify_order", "Modify an order",
         "Change quantity, price, trigger price, type or validity of an open order. Needs trading enabled.",
         ModifyOrderArgs, _modify, rate_class="orders", write=Write(_describe_modify)),
    Tool("cancel_order", "Cancel an order", "Cancel an open order. Needs trading enabled.",
         CancelOrderArgs, _cancel, rate_class="orders", write=Write(_describe_cancel)),
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
