"""GTT (Good Till Triggered) orders inside the engine: parsing Kite's form, and triggers meeting the
price path.

A trigger waits on one instrument's last price. A single trigger fires when the price reaches its
value from the side the market was on when it was placed (the `last_price` sent with it); a two-leg
(OCO) trigger fires its lower leg when the price falls to the lower value, its upper leg when it
rises to the upper one. Firing places the leg's LIMIT order through `order_place_in_book`, in the
same unit of work as the price move that fired it (`sandbox.engine.scheduler` calls
`gtt_evaluate` as it walks the price path), and records Kite's `result` on the leg.

Kite publishes no messages for most GTT validation errors (kite/API.md has none); the ones here are
written in Kite's style and marked where unverified.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.clock import book_day, kite_timestamp
from sandbox.engine.book import Book
from sandbox.engine.lifecycle import order_place_in_book
from sandbox.engine.margins import ltp
from sandbox.engine.spec import REJECTED, Form, order_spec_parse
from sandbox.errors import InputError, KiteError
from sandbox.models import GTTTrigger
from sandbox.universe import Instrument, instrument_by_key, instrument_by_token

SINGLE, TWO_LEG = "single", "two-leg"
ACTIVE, TRIGGERED, EXPIRED, DELETED = "active", "triggered", "expired", "deleted"
MAX_ACTIVE = 250  # Kite's limit of active GTTs per user
VALIDITY = dt.timedelta(days=365)  # a GTT lapses a year after it is placed
# Unverified wording (Kite's own texts for these are not published).
TOO_MANY = f"You can have at most {MAX_ACTIVE} active GTTs. Delete some before placing more."
GTT_PRODUCTS = "GTT orders can only be placed with the CNC product for equity and NRML for F&O."


@dataclass(frozen=True)
class GTTSpec:
    """A place/modify-GTT form, validated: what `GTTTrigger` stores."""

    trigger_type: str
    inst: Instrument
    trigger_values: list[float]
    last_price: float
    orders: list[dict[str, Any]]


def _json(params: Form, name: str, kind: type) -> Any:
    raw = params.get(name)
    if raw in (None, ""):
        raise InputError(f"Missing `{name}`.")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise InputError(f"Invalid `{name}`: malformed JSON.") from None
    if not isinstance(value, kind):
        raise InputError(f"Invalid `{name}`: expected a JSON {'object' if kind is dict else 'array'}.")
    return value


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"Invalid `{name}`: expected a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Invalid `{name}`: expected a number.") from None
    if not 0 < number < 1e9:
        raise InputError(f"Invalid `{name}`: it must be above 0.")
    return number


def _leg(raw: Any, position: int, inst: Instrument, now: dt.datetime) -> dict[str, Any]:
    """One of `orders`, validated as the LIMIT order it will place (same rules as a placed order)."""
    if not isinstance(raw, dict):
        raise InputError(f"Invalid `orders`: item {position} is not an object.")
    for name in ("exchange", "tradingsymbol"):
        given = str(raw.get(name) or getattr(inst, name)).strip().upper()
        if given != getattr(inst, name):
            raise InputError(f"Invalid `orders`: item {position} must be for {inst.key}, the instrument of the "
                             "condition.")
    order_type = str(raw.get("order_type") or "").strip().upper()
    if order_type != "LIMIT":
        raise InputError("Invalid `order_type`: GTT orders are LIMIT orders.")  # unverified wording
    product = str(raw.get("product") or "").strip().upper()
    if product != ("NRML" if inst.is_derivative else "CNC"):
        raise InputError(GTT_PRODUCTS)
    form = {"exchange": inst.exchange, "tradingsymbol": inst.tradingsymbol, "order_type": "LIMIT",
            "product": product, "transaction_type": raw.get("transaction_type"), "quantity": raw.get("quantity"),
            "price": raw.get("price")}
    spec = order_spec_parse("regular", form, now)
    return {"exchange": inst.exchange, "tradingsymbol": inst.tradingsymbol, "product": product,
            "order_type": "LIMIT", "transaction_type": spec.transaction_type, "quantity": spec.quantity,
            "price": float(spec.price), "result": None}


def gtt_spec_parse(params: Form, now: dt.datetime) -> GTTSpec:
    """Validate Kite's GTT form (`type`, `condition` JSON, `orders` JSON): InputError for anything a
    human must fix, before any book is locked."""
    trigger_type = str(params.get("type") or "").strip().lower()
    if trigger_type not in (SINGLE, TWO_LEG):
        raise InputError(f"Invalid `type` {params.get('type')!r}: use single or two-leg.")
    condition = _json(params, "condition", dict)
    legs = _json(params, "orders", list)
    exchange = str(condition.get("exchange") or "").strip().upper()
    symbol = str(condition.get("tradingsymbol") or "").strip().upper()
    if not exchange or not symbol:
        raise InputError("Invalid `condition`: it needs `exchange` and `tradingsymbol`.")
    inst = instrument_by_key(f"{exchange}:{symbol}", book_day(now))
    if inst is None:
        raise InputError("The instrument you are placing an order for has either expired or does not exist.")
    if inst.is_index:
        raise InputError(f"{inst.key} is an index: indices cannot be traded.")
    if condition.get("last_price") in (None, ""):
        raise InputError("Missing `last_price` in `condition`.")
    last_price = _positive(condition["last_price"], "last_price")
    values = condition.get("trigger_values")
    if not isinstance(values, list):
        raise InputError("Invalid `trigger_values`: expected a list of numbers.")
    wanted = 1 if trigger_type == SINGLE else 2
    if len(values) != wanted:
        raise InputError("Invalid `trigger_values`: a single trigger takes one value." if wanted == 1 else
                         "Invalid `trigger_values`: a two-leg trigger takes two values, the lower first.")
    triggers = [_positive(v, "trigger_values") for v in values]
    if trigger_type == SINGLE and triggers[0] == last_price:
        raise InputError("Invalid `trigger_values`: the trigger value must differ from the last price.")
    if trigger_type == TWO_LEG:
        if triggers[0] >= triggers[1]:
            raise InputError("Invalid `trigger_values`: the lower trigger value must come first, below the upper.")
        if not triggers[0] < last_price < triggers[1]:
            raise InputError("Invalid `trigger_values`: the last price must lie between the lower and the upper "
                             "trigger values.")
    if len(legs) != wanted:
        raise InputError(f"Invalid `orders`: a {trigger_type} trigger takes {wanted} order"
                         f"{'s' if wanted > 1 else ''}, one for each trigger value.")
    return GTTSpec(trigger_type, inst, triggers, last_price, [_leg(raw, i, inst, now) for i, raw in enumerate(legs)])


def gtt_apply(trigger: GTTTrigger, spec: GTTSpec) -> None:
    """Write a parsed form onto a trigger (new, or being modified)."""
    trigger.trigger_type, trigger.exchange = spec.trigger_type, spec.inst.exchange
    trigger.tradingsymbol, trigger.instrument_token = spec.inst.tradingsymbol, spec.inst.instrument_token
    trigger.trigger_values, trigger.last_price, trigger.orders = spec.trigger_values, spec.last_price, spec.orders


def crossed_leg(trigger: GTTTrigger, price: Decimal) -> int | None:
    """Which leg the price `price` fires (0 or 1), or None. Pure."""
    values = [Decimal(str(v)) for v in trigger.trigger_values]
    if trigger.trigger_type == SINGLE:
        below = values[0] < Decimal(str(trigger.last_price))
        return 0 if (price <= values[0] if below else price >= values[0]) else None
    if price <= values[0]:
        return 0
    if price >= values[1]:
        return 1
    return None


def _fire(book: Book, trigger: GTTTrigger, leg: int, price: Decimal, moment: dt.datetime) -> None:
    """Place the leg's LIMIT order now and record Kite's `result` on it; the trigger is spent."""
    order = dict(trigger.orders[leg])
    form = {k: order[k] for k in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "price")}
    try:
        placed = order_place_in_book(book, spec=order_spec_parse("regular", {**form, "order_type": "LIMIT"}, moment),
                                     now=moment, app_id=trigger.app_id)
        outcome = ({"status": "failed", "order_id": placed.order_id, "rejection_reason": placed.status_message}
                   if placed.status == REJECTED else
                   {"status": "success", "order_id": placed.order_id, "rejection_reason": ""})
    except KiteError as exc:  # e.g. the contract has expired since: Kite records the failure on the leg
        outcome = {"status": "failed", "order_id": "", "rejection_reason": exc.message}
    order["result"] = {
        "account_id": book.user.user_id, "exchange": order["exchange"], "tradingsymbol": order["tradingsymbol"],
        "validity": "DAY", "product": order["product"], "order_type": "LIMIT",
        "transaction_type": order["transaction_type"], "quantity": order["quantity"], "price": order["price"],
        "meta": json.dumps({"app_id": trigger.app_id, "gtt": trigger.pk}, separators=(",", ":")),
        "timestamp": kite_timestamp(moment), "triggered_at": float(price), "order_result": outcome,
    }
    orders = list(trigger.orders)
    orders[leg] = order
    trigger.orders, trigger.status, trigger.updated_at = orders, TRIGGERED, moment
    book.touch(trigger)


def gtt_evaluate(book: Book, marks: list[dt.datetime]) -> None:
    """The book's active triggers meet the price path at `marks` (in time order, in session): each
    fires at the first mark whose price crosses it, or lapses at its expiry."""
    prices: dict[tuple[int, dt.datetime], Decimal] = {}
    for trigger in book.active_gtts():
        inst = instrument_by_token(trigger.instrument_token)
        for mark in marks:
            if mark < trigger.updated_at:
                continue
            if mark >= trigger.expires_at or inst is None or (inst.expiry and book_day(mark) > inst.expiry):
                trigger.status, trigger.updated_at = EXPIRED, min(mark, trigger.expires_at)
                book.touch(trigger)
                break
            key = (inst.instrument_token, mark)
            if key not in prices:
                prices[key] = ltp(inst, mark)
            leg = crossed_leg(trigger, prices[key])
            if leg is not None:
                _fire(book, trigger, leg, prices[key], mark)
                break
