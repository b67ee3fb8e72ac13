"""The order vocabulary (statuses, varieties, order types, limits) and parsing a place-order form.

Pure: no database. Everything a human must fix is an InputError raised here, before any book is
locked, so a bad form leaves the books untouched.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sandbox import accounting as acc
from sandbox.accounting import ZERO
from sandbox.clock import IST, book_day, is_trading_day
from sandbox.conf import market_always_open
from sandbox.errors import InputError
from sandbox.universe import Instrument, instrument_by_key

OPEN, TRIGGER_PENDING, AMO_RECEIVED = "OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED"
COMPLETE, CANCELLED, REJECTED = "COMPLETE", "CANCELLED", "REJECTED"
OPEN_STATUSES = (OPEN, TRIGGER_PENDING, AMO_RECEIVED)
VARIETIES = ("regular", "amo", "co", "iceberg", "auction", "bo")
SUPPORTED_VARIETIES = ("regular", "amo", "co", "iceberg")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("CNC", "NRML", "MIS", "MTF", "CO", "BO")
VALIDITIES = ("DAY", "IOC", "TTL")
MAX_MODIFICATIONS = 25
MAX_QUANTITY = 10_000_000
MAX_AUTOSLICES = 10  # Kite since 2026-04-01
AUTOMATIC = Decimal("-1")
NO_PROTECTION = ("Market orders without market protection are not allowed via API. Please set market protection "
                 "or use a Limit order.")
# Iceberg: 2 to 50 legs (Kite raised the most from 20 to 50, also for API users: kite.trade forum,
# discussion comment 51724; "Minimum legs for an iceberg order is 2", comment 46708); Limit orders
# (Zerodha support, "Iceberg orders": Limit and SL-L; the sandbox takes LIMIT only); NSE and BSE
# equity, F&O and currency, not MCX; each leg is an order of its own, placed when the one before fills.
ICEBERG_LEGS = (2, 50)
ICEBERG_EXCHANGES = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD")
# The pre-open call auction of NSE equities (NSE: order entry 09:00-09:08, then price discovery and
# matching, a buffer until the normal session at 09:15).
PREOPEN_START, PREOPEN_MATCH = dt.time(9, 0), dt.time(9, 8)
IOC_ON_MCX = ("IOC validity is not allowed for MCX orders placed via API (exchange rules for API orders since "
              "1 April 2026). Use DAY validity.")

# Kite's automatic market protection (market_protection=-1): a percentage of the last price by
# security type and price, from Zerodha's support article "Market price protection in Alert Triggers
# Order (ATO)" (support.zerodha.com, read 2026-11). (upper price bound, percentage); the last row
# has no bound.
AUTOMATIC_BANDS: dict[str, tuple[tuple[Decimal | None, Decimal], ...]] = {
    "EQ_FUT": ((Decimal("100"), Decimal("2")), (Decimal("500"), Decimal("1")), (None, Decimal("0.5"))),
    "OPT": ((Decimal("10"), Decimal("5")), (Decimal("100"), Decimal("3")), (Decimal("500"), Decimal("2")),
            (None, Decimal("1"))),
}


class Form(Protocol):
    """Where order parameters come from: a dict, or the request's body-then-query `Params`."""

    def get(self, name: str, default: Any = None) -> Any: ...


@dataclass
class OrderSpec:
    """A place-order form, validated against the instrument it names."""

    variety: str
    inst: Instrument
    transaction_type: str
    order_type: str
    product: str
    quantity: int
    price: Decimal
    trigger_price: Decimal
    validity: str
    validity_ttl: int
    disclosed_quantity: int
    tag: str | None
    market_protection: Decimal
    autoslice: bool = False
    iceberg_legs: int = 0
    iceberg_quantity: int = 0


def in_preopen(inst: Instrument, moment: dt.datetime) -> bool:
    """Whether `moment` is in the pre-open order entry (09:00-09:08 IST on a trading day) and `inst`
    an NSE equity, the only instruments the sandbox runs the call auction for."""
    if market_always_open() or inst.exchange != "NSE" or inst.is_derivative or inst.is_index:
        return False
    local = moment.astimezone(IST)
    return is_trading_day(local.date()) and PREOPEN_START <= local.time() < PREOPEN_MATCH


def parse_variety(raw: str) -> str:
    variety = (raw or "").lower()
    if variety not in VARIETIES:
        raise InputError(f"Invalid `variety` {raw!r}: use regular, amo, co or iceberg.")
    if variety not in SUPPORTED_VARIETIES:
        raise InputError(f"The `{variety}` variety is not available in the sandbox: use regular, amo, co or "
                         "iceberg.")
    return variety


def _choice(params: Form, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    raw = params.get(name)
    if raw in (None, ""):
        if default is not None:
            return default
        raise InputError(f"Missing `{name}`.")
    value = str(raw).strip().upper()
    if value not in choices:
        raise InputError(f"Invalid `{name}` {raw!r}: use one of {', '.join(choices)}.")
    return value


def _int(params: Form, name: str, *, default: int | None = None, minimum: int = 0,
         maximum: int = MAX_QUANTITY) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        if default is not None:
            return default
        raise InputError(f"Missing `{name}`.")
    if isinstance(raw, bool):
        raise InputError(f"Invalid `{name}`: expected a whole number.")
    try:
        value = int(raw) if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        try:
            as_decimal = Decimal(str(raw).strip())
        except ArithmeticError:
            raise InputError(f"Invalid `{name}` {raw!r}: expected a whole number.") from None
        if not as_decimal.is_finite() or as_decimal != as_decimal.to_integral_value():
            raise InputError(f"Invalid `{name}` {raw!r}: expected a whole number.") from None
        value = int(as_decimal)
    if value < minimum or value > maximum:
        raise InputError(f"Invalid `{name}` {raw!r}: it must be between {minimum} and {maximum}.")
    return value


def _decimal(params: Form, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise InputError(f"Invalid `{name}`: expected a number.")
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise InputError(f"Invalid `{name}` {raw!r}: expected a number.") from None
    if not value.is_finite() or value < 0 or value > Decimal("1e9"):
        raise InputError(f"Invalid `{name}` {raw!r}: expected a price between 0 and 1000000000.")
    return value


def parse_market_protection(raw: Any) -> Decimal:
    """`market_protection` as Kite decodes it: a decimal; -1 (automatic), 0 (none, also when left
    out) or a percentage above 0 up to 100. A boolean is refused as Kite refuses it."""
    if raw in (None, ""):
        return Decimal("0")
    if isinstance(raw, bool) or str(raw).strip().lower() in ("true", "false"):
        raise InputError(f"failed to decode market_protection, got: {raw} (expected decimal)")
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise InputError(f"failed to decode market_protection, got: {raw} (expected decimal)") from None
    if not value.is_finite() or not (value == AUTOMATIC or 0 <= value <= 100):
        raise InputError(f"Invalid `market_protection` {raw}: use -1 (automatic) or a percentage above 0 "
                         "up to 100.")
    return value


def protection_percent(protection: Decimal, inst: Instrument, last_price: Decimal) -> Decimal:
    """The band a protected market order keeps to, in per cent of the last price: the one asked for,
    or for -1 Kite's automatic band (`AUTOMATIC_BANDS`)."""
    if protection != AUTOMATIC:
        return protection
    for bound, percent in AUTOMATIC_BANDS["OPT" if inst.is_option else "EQ_FUT"]:
        if bound is None or last_price < bound:
            return percent
    raise AssertionError("the last band has no bound")  # pragma: no cover


def _tick_check(value: Decimal, inst: Instrument, name: str) -> None:
    if not acc.on_tick(value, inst.price_tick):
        raise InputError(f"Tick size for this script is {inst.price_tick:.2f}. Kindly enter {name} in the "
                         f"multiple of tick size for this script")


def order_spec_parse(variety: str, params: Form, now: dt.datetime) -> OrderSpec:
    """Validate a place-order form (InputError for anything a human must fix)."""
    variety = parse_variety(variety)
    exchange = _choice(params, "exchange", ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"))
    symbol = str(params.get("tradingsymbol") or "").strip().upper()
    if not symbol:
        raise InputError("Missing `tradingsymbol`.")
    transaction_type = _choice(params, "transaction_type", ("BUY", "SELL"))
    order_type = _choice(params, "order_type", ORDER_TYPES)
    product = _choice(params, "product", PRODUCTS)
    quantity = _int(params, "quantity", minimum=1)
    validity = _choice(params, "validity", VALIDITIES, default="DAY")
    if exchange == "MCX" and validity == "IOC":
        raise InputError(IOC_ON_MCX)
    protection = parse_market_protection(params.get("market_protection"))
    if order_type in ("MARKET", "SL-M") and protection == 0:
        raise InputError(NO_PROTECTION)
    price = _decimal(params, "price") or ZERO
    trigger = _decimal(params, "trigger_price") or ZERO
    inst = instrument_by_key(f"{exchange}:{symbol}", book_day(now))
    if inst is None:
        raise InputError("The instrument you are placing an order for has either expired or does not exist.")
    if inst.is_index:
        raise InputError(f"{inst.key} is an index: indices cannot be traded.")
    if variety == "co":
        _cover_order_check(order_type, product, validity)
        product = "CO"  # Kite's cover orders are intraday, and show product CO
    else:
        allowed = ("NRML", "MIS") if inst.is_derivative else ("CNC", "MIS")
        if product not in allowed:
            raise InputError(f"Invalid `product` {product} for {exchange}: use {' or '.join(allowed)}.")
    if quantity % inst.lot_size:
        raise InputError(f"Invalid `quantity` {quantity}: {inst.key} trades in lots of {inst.lot_size}, "
                         f"so the quantity must be a multiple of {inst.lot_size}.")
    if order_type in ("LIMIT", "SL"):
        if price <= 0:
            raise InputError(f"Invalid `price`: a {order_type} order needs a price above 0.")
        _tick_check(price, inst, "price")
    else:
        price = ZERO
    if variety == "co":
        if trigger <= 0:
            raise InputError("Invalid `trigger_price`: a cover order needs its stop-loss trigger price above 0.")
        _tick_check(trigger, inst, "trigger price")
    elif order_type in ("SL", "SL-M"):
        if trigger <= 0:
            raise InputError(f"Invalid `trigger_price`: a {order_type} order needs a trigger price above 0.")
        _tick_check(trigger, inst, "trigger price")
        if order_type == "SL" and transaction_type == "BUY" and trigger > price:
            raise InputError("Trigger price for stoploss buy orders should be less than or equal to the price.")
        if order_type == "SL" and transaction_type == "SELL" and trigger < price:
            raise InputError("Trigger price for stoploss sell orders should be greater than or equal to the price.")
    else:
        trigger = ZERO
    validity_ttl = 0
    if validity == "TTL":
        validity_ttl = _int(params, "validity_ttl", minimum=1, maximum=24 * 60)
        if order_type == "MARKET":
            raise InputError("TTL validity is only for LIMIT and SL orders.")
    if validity == "IOC" and variety == "amo":
        raise InputError("IOC validity is not allowed for after market orders.")
    disclosed = _int(params, "disclosed_quantity", default=0)
    if disclosed > quantity:
        raise InputError("Invalid `disclosed_quantity`: it cannot exceed the quantity.")
    tag = params.get("tag")
    if tag in (None, ""):
        tag = None
    else:
        tag = str(tag)
        if len(tag) > 20 or not all(c.isalnum() or c in " _-:." for c in tag):
            raise InputError("Invalid `tag`: at most 20 letters, digits, spaces or _-:. characters.")
    autoslice = str(params.get("autoslice") or "").strip().lower()
    if autoslice not in ("", "true", "false", "1", "0"):
        raise InputError(f"Invalid `autoslice` {params.get('autoslice')!r}: use true or false.")
    legs, leg_quantity = _iceberg(params, variety, inst, order_type, validity, quantity)
    if autoslice in ("true", "1") and variety in ("co", "iceberg"):
        raise InputError(f"Invalid `autoslice`: it does not go with variety {variety}.")
    largest = leg_quantity or quantity
    if autoslice not in ("true", "1") and inst.freeze_quantity and largest > inst.freeze_quantity:
        raise InputError(f"Quantity {quantity} exceeds the freeze limit of {inst.freeze_quantity} for {inst.key}: "
                         "split the order or place it with autoslice.")
    if order_type not in ("MARKET", "SL-M"):
        protection = Decimal("0")  # a limit needs none: Kite ignores it
    return OrderSpec(variety, inst, transaction_type, order_type, product, quantity, price, trigger, validity,
                     validity_ttl, disclosed, tag, protection, autoslice in ("true", "1"), legs, leg_quantity)


def _cover_order_check(order_type: str, product: str, validity: str) -> None:
    """Kite's cover order: a MARKET or LIMIT entry, intraday, DAY, with a compulsory stop-loss
    trigger (kite.trade forum: "Kite Connect supports only two types of cover order, one is MARKET
    entry type and LIMIT entry type"; pykiteconnect PRODUCT_CO = "CO")."""
    if order_type not in ("MARKET", "LIMIT"):
        raise InputError(f"Invalid `order_type` {order_type} for a cover order: use MARKET or LIMIT (the stop-loss "
                         "leg is placed by the system from `trigger_price`).")
    if product not in ("CO", "MIS"):
        raise InputError(f"Invalid `product` {product} for a cover order: cover orders are intraday (CO).")
    if validity != "DAY":
        raise InputError(f"Invalid `validity` {validity} for a cover order: use DAY.")


def _iceberg(params: Form, variety: str, inst: Instrument, order_type: str, validity: str,
             quantity: int) -> tuple[int, int]:
    """(legs, leg quantity) of an iceberg order, (0, 0) for any other variety."""
    if variety != "iceberg":
        return 0, 0
    if inst.exchange not in ICEBERG_EXCHANGES:
        raise InputError(f"Iceberg orders are not allowed on {inst.exchange}.")
    if order_type != "LIMIT":
        raise InputError(f"Invalid `order_type` {order_type} for an iceberg order: the sandbox takes LIMIT icebergs.")
    if validity == "IOC":
        raise InputError("IOC validity is not allowed for iceberg orders: use DAY or TTL.")
    low, high = ICEBERG_LEGS
    legs = _int(params, "iceberg_legs", minimum=low, maximum=high)
    leg_quantity = _int(params, "iceberg_quantity", minimum=1)
    if leg_quantity % inst.lot_size:
        raise InputError(f"Invalid `iceberg_quantity` {leg_quantity}: {inst.key} trades in lots of {inst.lot_size}, "
                         f"so each leg must be a multiple of {inst.lot_size}.")
    if leg_quantity >= quantity:
        raise InputError(f"Invalid `iceberg_quantity` {leg_quantity}: each leg must be less than the order's "
                         f"quantity {quantity}.")
    needed = -(-quantity // leg_quantity)
    if needed != legs:
        raise InputError(f"Invalid `iceberg_legs` {legs}: a quantity of {quantity} in legs of {leg_quantity} makes "
                         f"{needed} legs (the last one {quantity - (needed - 1) * leg_quantity}).")
    return legs, leg_quantity


def autoslice_quantities(spec: OrderSpec) -> list[int]:
    """The slices an autoslice order is placed as: whole lots up to the freeze quantity each (one
    slice when the instrument has none, or the order is within it); more than 10 is refused."""
    most = spec.inst.max_order_quantity
    if not most or spec.quantity <= most:
        return [spec.quantity]
    full, rest = divmod(spec.quantity, most)
    slices = [most] * full + ([rest] if rest else [])
    if len(slices) > MAX_AUTOSLICES:
        raise InputError(f"Autoslice would split this order into {len(slices)} orders of at most {most} "
                         f"({spec.inst.key}'s freeze quantity {spec.inst.freeze_quantity}); at most "
                         f"{MAX_AUTOSLICES} are allowed. Reduce the quantity.")
    return slices
