"""The paper-trading engine: orders, fills, positions, holdings, cash, and the trading day.

All writes for one paper user happen under that user's row lock (and a process lock, which keeps
SQLite's single writer happy in the threaded server). Time-driven work (open orders meeting the
price path, AMOs at the open, MIS square-off, DAY orders expiring, the end-of-day settlement) is
done lazily, in time order, whenever the user's books are next touched: `book_sync`.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from sandbox import accounting as acc
from sandbox import pricing
from sandbox.accounting import ZERO, dec
from sandbox.clock import (
    IST,
    MIS_SQUARE_OFF,
    at,
    book_day,
    in_session,
    is_market_open,
    is_trading_day,
    kite_timestamp,
    market_always_open,
    next_open_after,
    session_close,
    session_open,
)
from sandbox.errors import InputError, KiteError, MarginError, OrderError
from sandbox.models import Holding, Order, OrderEvent, PaperUser, Position, Trade
from sandbox.universe import Instrument, instrument_by_key, instrument_by_token

log = logging.getLogger(__name__)

OPEN, TRIGGER_PENDING, AMO_RECEIVED = "OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED"
COMPLETE, CANCELLED, REJECTED = "COMPLETE", "CANCELLED", "REJECTED"
OPEN_STATUSES = (OPEN, TRIGGER_PENDING, AMO_RECEIVED)
VARIETIES = ("regular", "amo", "co", "iceberg", "auction", "bo")
SUPPORTED_VARIETIES = ("regular", "amo")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("CNC", "NRML", "MIS", "MTF", "CO", "BO")
VALIDITIES = ("DAY", "IOC", "TTL")
MAX_MODIFICATIONS = 25
MAX_QUANTITY = 10_000_000

MARKET_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."
_lock = threading.RLock()


# --- the book: one user's open orders, positions and holdings, loaded under lock ------------------

class Book:
    def __init__(self, user: PaperUser) -> None:
        self.user = user
        self.orders: list[Order] = list(Order.objects.filter(user=user, status__in=OPEN_STATUSES))
        self.positions: dict[tuple[int, str], Position] = {
            (p.instrument_token, p.product): p for p in Position.objects.filter(user=user)}
        self.holdings: dict[int, Holding] = {h.instrument_token: h for h in Holding.objects.filter(user=user)}
        self.events: list[OrderEvent] = []
        self.dirty: dict[int, object] = {}
        self.deleted: list[object] = []

    def touch(self, obj: object) -> None:
        self.dirty[id(obj)] = obj

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders if o.status in OPEN_STATUSES]

    def snapshot(self, order: Order, status: str | None = None) -> None:
        self.events.append(OrderEvent(order=order, snapshot=order_payload(order, self.user, status=status)))

    def position(self, inst: Instrument, product: str) -> Position:
        key = (inst.instrument_token, product)
        pos = self.positions.get(key)
        if pos is None:
            pos = Position(user=self.user, exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
                           instrument_token=inst.instrument_token, product=product)
            self.positions[key] = pos
        return pos

    def flush(self) -> None:
        for obj in self.deleted:
            if obj.pk is not None:
                obj.delete()
        deleted = {id(o) for o in self.deleted}
        for key, obj in self.dirty.items():
            if key not in deleted:
                obj.save()
        OrderEvent.objects.bulk_create(self.events)
        self.user.open_orders = len(self.open_orders())
        self.user.save()
        self.events, self.dirty, self.deleted = [], {}, []


@contextmanager
def locked_book(user_pk: int) -> Iterator[Book]:
    with _lock, transaction.atomic():
        user = PaperUser.objects.select_for_update().get(pk=user_pk)
        book = Book(user)
        yield book
        book.flush()


def read_book(user: PaperUser) -> Book:
    return Book(user)


# --- payloads ---------------------------------------------------------------------------------------

def order_payload(order: Order, user: PaperUser, *, status: str | None = None) -> dict:
    status = status or order.status
    terminal_or_open = status in (OPEN, TRIGGER_PENDING, COMPLETE, CANCELLED, "MODIFIED", "MODIFY PENDING",
                                  "MODIFY VALIDATION PENDING", "CANCEL PENDING")
    at_exchange = bool(order.exchange_order_id) and terminal_or_open
    payload = {
        "account_id": user.user_id,
        "placed_by": user.user_id,
        "order_id": order.order_id,
        "exchange_order_id": order.exchange_order_id if at_exchange else None,
        "parent_order_id": None,
        "status": status,
        "status_message": (order.status_message or None) if status == order.status else None,
        "status_message_raw": (order.status_message_raw or None) if status == order.status else None,
        "order_timestamp": kite_timestamp(order.order_timestamp),
        "exchange_update_timestamp": kite_timestamp(order.exchange_update_timestamp) if at_exchange else None,
        "exchange_timestamp": kite_timestamp(order.exchange_timestamp) if at_exchange else None,
        "variety": order.variety,
        "modified": order.modified,
        "exchange": order.exchange,
        "tradingsymbol": order.tradingsymbol,
        "instrument_token": order.instrument_token,
        "order_type": order.order_type,
        "transaction_type": order.transaction_type,
        "validity": order.validity,
        "validity_ttl": order.validity_ttl,
        "product": order.product,
        "quantity": order.quantity,
        "disclosed_quantity": order.disclosed_quantity,
        "price": acc.price(order.price),
        "trigger_price": acc.price(order.trigger_price),
        "average_price": acc.price(order.average_price) if status == COMPLETE else 0.0,
        "filled_quantity": order.filled_quantity if status == COMPLETE else 0,
        "pending_quantity": order.pending_quantity if status == order.status else (
            0 if status == REJECTED else order.quantity),
        "cancelled_quantity": order.cancelled_quantity if status == order.status else 0,
        "market_protection": order.market_protection,
        "meta": {},
        "tag": order.tag or None,
        "guid": None,
    }
    if order.tag:
        payload["tags"] = [order.tag]
    return payload


# --- validation of a new order -------------------------------------------------------------------------

@dataclass
class OrderSpec:
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
    market_protection: int


def parse_variety(raw: str) -> str:
    variety = (raw or "").lower()
    if variety not in VARIETIES:
        raise InputError(f"Invalid `variety` {raw!r}: use regular or amo.")
    if variety not in SUPPORTED_VARIETIES:
        raise InputError(f"The `{variety}` variety is not available in the sandbox: use regular or amo.")
    return variety


def _choice(params, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    raw = params.get(name)
    if raw in (None, ""):
        if default is not None:
            return default
        raise InputError(f"Missing `{name}`.")
    value = str(raw).strip().upper()
    if value not in choices:
        raise InputError(f"Invalid `{name}` {raw!r}: use one of {', '.join(choices)}.")
    return value


def _int(params, name: str, *, default: int | None = None, minimum: int = 0, maximum: int = MAX_QUANTITY) -> int:
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


def _decimal(params, name: str) -> Decimal | None:
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


def _tick_check(value: Decimal, inst: Instrument, name: str) -> None:
    if not acc.on_tick(value, inst.price_tick):
        raise InputError(f"Tick size for this script is {inst.price_tick:.2f}. Kindly enter {name} in the "
                         f"multiple of tick size for this script")


def order_spec_parse(variety: str, params, now: dt.datetime) -> OrderSpec:
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
    price = _decimal(params, "price") or ZERO
    trigger = _decimal(params, "trigger_price") or ZERO
    inst = instrument_by_key(f"{exchange}:{symbol}", book_day(now))
    if inst is None:
        raise InputError("The instrument you are placing an order for has either expired or does not exist.")
    if inst.is_index:
        raise InputError(f"{inst.key} is an index: indices cannot be traded.")
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
    if order_type in ("SL", "SL-M"):
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
    protection = _int(params, "market_protection", default=0, minimum=-1, maximum=100)
    if str(params.get("autoslice") or "").lower() == "true":
        raise InputError("`autoslice` is not available in the sandbox.")
    return OrderSpec(variety, inst, transaction_type, order_type, product, quantity, price, trigger, validity,
                     validity_ttl, disclosed, tag, protection)


# --- prices, margins -------------------------------------------------------------------------------------

def ltp(inst: Instrument, moment: dt.datetime) -> Decimal:
    return dec(pricing.price_at(inst, moment))


def _underlying_price(inst: Instrument, moment: dt.datetime) -> Decimal:
    if not inst.is_derivative:
        return ZERO
    underlying = instrument_by_token(inst.underlying_token)
    return ltp(underlying, moment) if underlying else ZERO


@dataclass(frozen=True)
class MarginSummary:
    opening_balance: Decimal
    span: Decimal
    exposure: Decimal
    option_premium: Decimal
    holding_sales: Decimal
    m2m_realised: Decimal
    m2m_unrealised: Decimal
    debits: Decimal

    @property
    def net(self) -> Decimal:
        return self.opening_balance - self.debits


def margin_summary(book: Book, moment: dt.datetime) -> MarginSummary:
    """Kite's equity margins, from the day's positions and the open orders' blocked margin.

    net = opening balance - debits, where debits = span + exposure + net option premium paid +
    delivery (CNC) buys - holdings sold - realised m2m + unrealised m2m losses + open orders' margin.
    """
    span = exposure = premium = delivery = sales = realised = unrealised = ZERO
    for pos in book.positions.values():
        inst = instrument_by_token(pos.instrument_token)
        if inst is None:
            continue
        last = ltp(inst, moment)
        if inst.is_option:
            premium += pos.day_buy_value - pos.day_sell_value
        elif pos.product == "CNC":
            delivery += pos.day_buy_value
            sales += pos.day_sell_value
        else:
            r, u = acc.m2m_split(acc.net_legs(pos), last)
            realised, unrealised = realised + r, unrealised + u
        s, e = acc.blocked_margin(inst, pos.product, pos.quantity, last, _underlying_price(inst, moment))
        span, exposure = span + s, exposure + e
    blocked = sum((o.blocked_margin for o in book.open_orders()), ZERO)
    debits = span + exposure + premium + delivery - sales - realised + max(ZERO, -unrealised) + blocked
    return MarginSummary(book.user.opening_balance, span, exposure, premium, sales, realised, unrealised, debits)


# --- order lifecycle ----------------------------------------------------------------------------------------

def _order_price_for_margin(order: Order, inst: Instrument, moment: dt.datetime) -> Decimal:
    if order.order_type in ("LIMIT", "SL"):
        return order.price
    if order.order_type == "SL-M":
        return order.trigger_price
    return ltp(inst, moment)


def _sellable(book: Book, inst: Instrument, exclude: Order | None = None) -> int:
    """CNC shares that can still be sold: holdings not sold today, plus today's CNC buys not sold yet,
    less what open CNC sell orders already claim."""
    holding = book.holdings.get(inst.instrument_token)
    used = holding.used_quantity if holding else 0
    held = holding.quantity - used if holding else 0
    pos = book.positions.get((inst.instrument_token, "CNC"))
    bought_today = max(0, pos.day_buy_quantity - (pos.day_sell_quantity - used)) if pos else 0
    reserved = sum(o.quantity for o in book.open_orders()
                   if o is not exclude and o.instrument_token == inst.instrument_token and o.product == "CNC"
                   and o.transaction_type == "SELL")
    return held + bought_today - reserved


def _rms_check(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> tuple[str, str] | None:
    """Kite's risk checks: (status_message, status_message_raw) when the order must be rejected."""
    if order.product == "CNC" and order.transaction_type == "SELL":
        available = _sellable(book, inst, exclude=order)
        if order.quantity > available:
            return (f"Insufficient holdings. Available quantity to sell is {max(available, 0)} but the order "
                    f"quantity is {order.quantity}.",
                    f"RMS:Rule: Check holdings, insufficient quantity for entity account-{book.user.user_id} "
                    f"for {inst.key}")
    required = _required_margin(book, order, inst, moment)
    available = margin_summary(book, moment).net
    if required > available:
        r, a = acc.money(required), acc.money(available)
        return (f"Insufficient funds. Required margin is {r:.2f} but available margin is {a:.2f}.",
                f"RMS:Margin Exceeds,Required:{r:.2f}, Available:{a:.2f} for entity account-{book.user.user_id} "
                "across exchange across segment across product ")
    return None


def _required_margin(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> Decimal:
    pos = book.positions.get((inst.instrument_token, order.product))
    return acc.order_margin(inst, order.product, order.transaction_type, order.quantity,
                            _order_price_for_margin(order, inst, moment), pos.quantity if pos else 0,
                            _underlying_price(inst, moment))


def _placeholder() -> str:
    return f"new-{secrets.token_hex(8)}"


def _assign_ids(order: Order) -> None:
    """Kite-like numeric ids from the row id (inserted with a placeholder first)."""
    order.order_id = f"{order.book_day:%y%m%d}{order.pk:09d}"
    Order.objects.filter(pk=order.pk).update(order_id=order.order_id)


def _to_exchange(order: Order, moment: dt.datetime) -> None:
    order.exchange_order_id = f"13{order.pk:014d}"
    order.exchange_timestamp = moment
    order.exchange_update_timestamp = moment


def _reject(book: Book, order: Order, moment: dt.datetime, message: str, raw: str) -> None:
    order.status, order.status_message, order.status_message_raw = REJECTED, message, raw
    order.pending_quantity, order.blocked_margin = 0, ZERO
    order.exchange_update_timestamp = moment
    book.snapshot(order)
    book.touch(order)


def _cancel(book: Book, order: Order, moment: dt.datetime, message: str | None = None) -> None:
    order.status, order.status_message = CANCELLED, message or ""
    order.cancelled_quantity, order.pending_quantity = order.quantity - order.filled_quantity, 0
    order.blocked_margin = ZERO
    order.exchange_update_timestamp = moment
    book.snapshot(order)
    book.touch(order)


def _fill(book: Book, order: Order, inst: Instrument, fill_price: Decimal, moment: dt.datetime) -> None:
    pos = book.position(inst, order.product)
    if order.product == "CNC" and order.transaction_type == "SELL":
        holding = book.holdings.get(inst.instrument_token)
        intraday_long = max(0, pos.day_buy_quantity - pos.day_sell_quantity
                            + (holding.used_quantity if holding else 0))
        from_holdings = order.quantity - min(order.quantity, intraday_long)
        if from_holdings and holding is not None:
            holding.used_quantity += from_holdings
            book.touch(holding)
    value = fill_price * order.quantity
    if order.transaction_type == "BUY":
        pos.day_buy_quantity += order.quantity
        pos.day_buy_value += value
    else:
        pos.day_sell_quantity += order.quantity
        pos.day_sell_value += value
    book.touch(pos)
    order.status, order.average_price = COMPLETE, fill_price
    order.filled_quantity, order.pending_quantity, order.blocked_margin = order.quantity, 0, ZERO
    order.exchange_update_timestamp = moment
    book.touch(order)
    book.snapshot(order)
    trade = Trade.objects.create(
        user=book.user, order=order, exchange=order.exchange, tradingsymbol=order.tradingsymbol,
        instrument_token=order.instrument_token, product=order.product, transaction_type=order.transaction_type,
        quantity=order.quantity, price=fill_price, fill_timestamp=moment, book_day=book_day(moment),
        trade_id=_placeholder())
    trade.trade_id = str(10_000_000 + trade.pk)
    Trade.objects.filter(pk=trade.pk).update(trade_id=trade.trade_id)


def _try_execute(book: Book, order: Order, inst: Instrument, price: Decimal, moment: dt.datetime) -> bool:
    """Fill or trigger `order` if the price `price` at `moment` allows; True when it filled."""
    buy = order.transaction_type == "BUY"
    if order.order_type in ("SL", "SL-M") and not order.triggered:
        hit = price >= order.trigger_price if buy else price <= order.trigger_price
        if not hit:
            return False
        order.triggered = True
        order.status = OPEN
        book.touch(order)
        book.snapshot(order)
    if order.order_type in ("MARKET", "SL-M"):
        _fill(book, order, inst, price, moment)
        return True
    if (buy and price <= order.price) or (not buy and price >= order.price):
        _fill(book, order, inst, price, moment)
        return True
    return False


def _go_live(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> None:
    """The order reaches the exchange: OPEN (or TRIGGER PENDING), and fills at once if it can."""
    book.snapshot(order, "OPEN PENDING")
    _to_exchange(order, moment)
    order.status = TRIGGER_PENDING if order.order_type in ("SL", "SL-M") else OPEN
    book.snapshot(order)
    book.touch(order)
    filled = _try_execute(book, order, inst, ltp(inst, moment), moment)
    if not filled and order.validity == "IOC":
        _cancel(book, order, moment, "Order cancelled: IOC orders are cancelled when they cannot fill at once.")


def order_place(*, user: PaperUser, variety: str, params, now: dt.datetime) -> str:
    """Place an order; returns its order_id. Input errors raise; risk rejections are REJECTED orders."""
    spec = order_spec_parse(variety, params, now)
    inst = spec.inst
    with locked_book(user.pk) as book:
        _advance(book, now)
        open_now = is_market_open(now)
        if spec.order_type in ("SL", "SL-M") and open_now:
            price = ltp(inst, now)
            buy = spec.transaction_type == "BUY"
            if spec.trigger_price <= price if buy else spec.trigger_price >= price:
                side = "higher" if buy else "lower"
                raise InputError(f"Trigger price for stoploss {spec.transaction_type.lower()} orders should be "
                                 f"{side} than the last traded price ({price}).")
        order = Order.objects.create(
            user=book.user, variety=spec.variety, exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
            instrument_token=inst.instrument_token, transaction_type=spec.transaction_type,
            order_type=spec.order_type, product=spec.product, validity=spec.validity,
            validity_ttl=spec.validity_ttl, quantity=spec.quantity, disclosed_quantity=spec.disclosed_quantity,
            price=spec.price, trigger_price=spec.trigger_price, pending_quantity=spec.quantity,
            status="PUT ORDER REQ RECEIVED", tag=spec.tag or "", market_protection=spec.market_protection,
            order_timestamp=now, book_day=book_day(now), order_id=_placeholder())
        _assign_ids(order)
        book.orders.append(order)
        book.touch(order)
        if spec.variety == "amo" and not open_now:
            book.snapshot(order, AMO_RECEIVED)
        else:
            book.snapshot(order)
            book.snapshot(order, "VALIDATION PENDING")
        if not open_now and spec.variety == "regular":
            _reject(book, order, now, MARKET_CLOSED, "RMS:Market is closed")
            return order.order_id
        problem = _rms_check(book, order, inst, now)
        if problem:
            _reject(book, order, now, *problem)
            return order.order_id
        order.blocked_margin = _required_margin(book, order, inst, now)
        if spec.validity == "TTL":
            order.expires_at = now + dt.timedelta(minutes=spec.validity_ttl)
        if spec.variety == "amo" and not open_now:
            order.status = AMO_RECEIVED
            order.active_from = next_open_after(now)
            return order.order_id
        _go_live(book, order, inst, now)
        return order.order_id


def _find_order(book: Book, order_id: str) -> Order:
    order = next((o for o in book.orders if o.order_id == order_id), None)
    if order is None:
        order = Order.objects.filter(user=book.user, order_id=order_id).first()
    if order is None:
        raise InputError(f"Couldn't find that `order_id` ({order_id}).")
    return order


def _closed_state_error(order: Order, action: str) -> InputError:
    state = {COMPLETE: "completed", CANCELLED: "cancelled", REJECTED: "rejected"}.get(order.status, order.status)
    return InputError(f"Order cannot be {action} as it is already {state}.")


def order_modify(*, user: PaperUser, variety: str, order_id: str, params, now: dt.datetime) -> str:
    parse_variety(variety)
    with locked_book(user.pk) as book:
        _advance(book, now)
        order = _find_order(book, order_id)
        if order.status not in OPEN_STATUSES:
            raise _closed_state_error(order, "modified")
        if order.modification_count >= MAX_MODIFICATIONS:
            raise OrderError("Maximum allowed order modifications exceeded. Cancel the order and place it again.")
        inst = instrument_by_token(order.instrument_token)
        if inst is None:  # an instrument that no longer exists
            raise OrderError("The instrument of this order is no longer traded.")
        merged = {
            "exchange": order.exchange, "tradingsymbol": order.tradingsymbol,
            "transaction_type": order.transaction_type, "product": order.product,
            "order_type": params.get("order_type") or order.order_type,
            "quantity": params.get("quantity") or order.quantity,
            "price": params.get("price") if params.get("price") not in (None, "") else order.price,
            "trigger_price": (params.get("trigger_price") if params.get("trigger_price") not in (None, "")
                              else order.trigger_price),
            "validity": params.get("validity") or order.validity,
            "validity_ttl": params.get("validity_ttl") or order.validity_ttl or None,
            "disclosed_quantity": params.get("disclosed_quantity") or order.disclosed_quantity,
            "tag": order.tag,
        }
        if str(merged["order_type"]).upper() == "MARKET":
            merged["price"] = None
        spec = order_spec_parse(order.variety, merged, now)
        previous = {f: getattr(order, f) for f in ("order_type", "quantity", "price", "trigger_price", "validity",
                                                   "validity_ttl", "disclosed_quantity", "blocked_margin")}
        order.order_type, order.quantity, order.price = spec.order_type, spec.quantity, spec.price
        order.trigger_price, order.validity, order.validity_ttl = spec.trigger_price, spec.validity, spec.validity_ttl
        order.disclosed_quantity = spec.disclosed_quantity
        order.blocked_margin = ZERO  # its own margin must not count against it
        if order.product == "CNC" and order.transaction_type == "SELL":
            available_quantity = _sellable(book, inst, exclude=order)
            if order.quantity > available_quantity:
                for field, value in previous.items():
                    setattr(order, field, value)
                raise KiteError(f"Insufficient holdings. Available quantity to sell is {max(available_quantity, 0)} "
                                f"but the order quantity is {order.quantity}.", error_type="HoldingException")
        required = _required_margin(book, order, inst, now)
        available = margin_summary(book, now).net
        if required > available:
            for field, value in previous.items():
                setattr(order, field, value)
            raise MarginError(f"Insufficient funds. Required margin is {acc.money(required):.2f} but available "
                              f"margin is {acc.money(available):.2f}.")
        order.blocked_margin = required
        order.pending_quantity = order.quantity
        order.modified, order.modification_count = True, order.modification_count + 1
        order.order_timestamp = now
        status = order.status
        for interim in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            book.snapshot(order, interim)
        if order.order_type not in ("SL", "SL-M"):
            order.triggered = False
            status = OPEN if status != AMO_RECEIVED else status
        elif not order.triggered and status == OPEN:
            status = TRIGGER_PENDING
        order.status = status
        book.snapshot(order)
        book.touch(order)
        if status != AMO_RECEIVED:
            order.exchange_update_timestamp = now
            if not _try_execute(book, order, inst, ltp(inst, now), now) and order.validity == "IOC":
                _cancel(book, order, now, "Order cancelled: IOC orders are cancelled when they cannot fill at once.")
        return order.order_id


def order_cancel(*, user: PaperUser, variety: str, order_id: str, now: dt.datetime) -> str:
    parse_variety(variety)
    with locked_book(user.pk) as book:
        _advance(book, now)
        order = _find_order(book, order_id)
        if order.status not in OPEN_STATUSES:
            raise _closed_state_error(order, "cancelled")
        book.snapshot(order, "CANCEL PENDING")
        _cancel(book, order, now)
        return order.order_id


# --- time: the price path, the open, the close, the end of the day ------------------------------------------

def _evaluate(book: Book, start: dt.datetime, end: dt.datetime, *, include_end: bool) -> None:
    """Open orders meet the price path in (start, end) (and at `end` when include_end)."""
    live = [o for o in book.open_orders() if o.status in (OPEN, TRIGGER_PENDING)]
    if not live:
        return
    marks = [m for m in pricing.minute_marks(start, end) if m < end and in_session(m)]
    if include_end and is_market_open(end):
        marks.append(end)
    for order in live:
        inst = instrument_by_token(order.instrument_token)
        if inst is None:
            continue
        for mark in marks:
            if mark < order.order_timestamp:
                continue
            if order.expires_at and mark >= order.expires_at:
                _cancel(book, order, order.expires_at, "Order cancelled: its TTL validity lapsed.")
                break
            if _try_execute(book, order, inst, ltp(inst, mark), mark):
                break
        else:
            if order.expires_at and order.status in OPEN_STATUSES and order.expires_at <= end:
                _cancel(book, order, order.expires_at, "Order cancelled: its TTL validity lapsed.")


def _on_open(book: Book, moment: dt.datetime) -> None:
    for order in book.open_orders():
        if order.status != AMO_RECEIVED or (order.active_from and order.active_from > moment):
            continue
        inst = instrument_by_token(order.instrument_token)
        if inst is None or (inst.expiry and inst.expiry < book_day(moment)):
            _reject(book, order, moment, "The instrument has expired.", "RMS:Instrument expired")
            continue
        order.blocked_margin = ZERO
        problem = _rms_check(book, order, inst, moment)
        if problem:
            _reject(book, order, moment, *problem)
            continue
        order.blocked_margin = _required_margin(book, order, inst, moment)
        _go_live(book, order, inst, moment)


def _square_off(book: Book, pos: Position, inst: Instrument, moment: dt.datetime) -> None:
    quantity = pos.quantity
    side = "SELL" if quantity > 0 else "BUY"
    order = Order.objects.create(
        user=book.user, variety="regular", exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
        instrument_token=inst.instrument_token, transaction_type=side, order_type="MARKET", product=pos.product,
        validity="DAY", quantity=abs(quantity), pending_quantity=abs(quantity), status=OPEN, tag="autosquareoff",
        order_timestamp=moment, book_day=book_day(moment), order_id=_placeholder())
    _assign_ids(order)
    _to_exchange(order, moment)
    book.orders.append(order)
    book.snapshot(order)
    _fill(book, order, inst, ltp(inst, moment), moment)


def _on_square_off(book: Book, moment: dt.datetime) -> None:
    """Intraday (MIS) orders are cancelled and MIS positions closed at market price."""
    for order in book.open_orders():
        if order.product == "MIS" and order.status != AMO_RECEIVED:
            _cancel(book, order, moment, "Order cancelled by the system at the intraday square-off.")
    for pos in list(book.positions.values()):
        inst = instrument_by_token(pos.instrument_token)
        if pos.product == "MIS" and pos.quantity and inst is not None:
            _square_off(book, pos, inst, moment)


def _on_close(book: Book, moment: dt.datetime) -> None:
    """DAY orders still open at the close are cancelled by the exchange (AMOs wait for their open)."""
    for order in book.open_orders():
        if order.status != AMO_RECEIVED:
            _cancel(book, order, moment, "Order cancelled by the exchange at the end of the trading day.")
    book.user.closed_day = book_day(moment)


def _end_of_day(book: Book, day: dt.date, next_day: dt.date) -> None:
    """Settle `day`: cash flows, CNC buys to holdings (T1), carried positions, expiries."""
    user = book.user
    end = at(day, dt.time(23, 59, 59))
    if market_always_open() or not is_trading_day(day):
        for order in book.open_orders():
            if order.status != AMO_RECEIVED:
                _cancel(book, order, end, "Order cancelled by the exchange at the end of the trading day.")
        if is_trading_day(day) or any(p.product == "MIS" and p.quantity for p in book.positions.values()):
            _on_square_off(book, end)
    if is_trading_day(day):  # T1 shares settle into the demat account one session later
        for holding in book.holdings.values():
            if holding.t1_quantity:
                holding.realised_quantity += holding.t1_quantity
                holding.t1_quantity = 0
                book.touch(holding)
    for holding in list(book.holdings.values()):
        if holding.used_quantity:
            from_realised = min(holding.used_quantity, holding.realised_quantity)
            holding.realised_quantity -= from_realised
            holding.t1_quantity -= holding.used_quantity - from_realised
            holding.used_quantity = 0
            book.touch(holding)
    cash = ZERO
    for key, pos in list(book.positions.items()):
        inst = instrument_by_token(pos.instrument_token)
        if inst is None:
            continue
        close = dec(pricing.closing_price(inst, day))
        cash += acc.day_cash_flow(inst, pos.product, pos, close)
        quantity = pos.quantity
        if pos.product == "CNC" and not inst.is_derivative:
            if quantity > 0:
                _add_to_holdings(book, inst, quantity, pos.day_buy_value / pos.day_buy_quantity)
            del book.positions[key]
            book.deleted.append(pos)
            continue
        if inst.expiry and inst.expiry <= day:
            # Expired contracts settle in cash at the final settlement price.
            if inst.is_option:
                cash += quantity * close
            del book.positions[key]
            book.deleted.append(pos)
            continue
        if not quantity:
            del book.positions[key]
            book.deleted.append(pos)
            continue
        figures = acc.position_figures(acc.net_legs(pos), close)
        pos.overnight_quantity, pos.overnight_average, pos.overnight_close = quantity, figures["average_price"], close
        pos.day_buy_quantity = pos.day_sell_quantity = 0
        pos.day_buy_value = pos.day_sell_value = ZERO
        book.touch(pos)
    for holding in list(book.holdings.values()):
        holding.opening_quantity = holding.quantity
        book.touch(holding)
        if not holding.quantity:
            del book.holdings[holding.instrument_token]
            book.deleted.append(holding)
    user.opening_balance += cash
    user.book_day = next_day


def _add_to_holdings(book: Book, inst: Instrument, quantity: int, average: Decimal) -> None:
    holding = book.holdings.get(inst.instrument_token)
    if holding is None:
        holding = Holding(user=book.user, exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
                          instrument_token=inst.instrument_token, isin=inst.isin)
        book.holdings[inst.instrument_token] = holding
    total = holding.quantity + quantity
    holding.average_price = (holding.average_price * holding.quantity + average * quantity) / total
    holding.t1_quantity += quantity
    book.touch(holding)


def _events(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str]]:
    out: list[tuple[dt.datetime, str]] = []
    day = start.astimezone(IST).date()
    last = end.astimezone(IST).date()
    always_open = market_always_open()
    while day <= last:
        candidates = [(at(day, dt.time(0, 0)), "rollover")]
        if is_trading_day(day):
            candidates.append((session_open(day), "open"))
            if not always_open:
                candidates += [(at(day, MIS_SQUARE_OFF), "square_off"), (session_close(day), "close")]
        out += [(moment, kind) for moment, kind in candidates if start < moment <= end]
        day += dt.timedelta(days=1)
    return out


def _advance(book: Book, now: dt.datetime) -> None:
    """Bring the book up to `now`, handling every event in time order."""
    user = book.user
    start = user.synced_at
    if now <= start:
        _evaluate(book, now, now, include_end=True)
        user.synced_at = now
        return
    for moment, kind in _events(start, now):
        _evaluate(book, start, moment, include_end=False)
        day = book_day(moment)
        if kind == "rollover":
            while user.book_day < day:
                _end_of_day(book, user.book_day, user.book_day + dt.timedelta(days=1))
        elif kind == "open":
            _on_open(book, moment)
        elif kind == "square_off" and user.closed_day != day:
            _on_square_off(book, moment)
        elif kind == "close" and user.closed_day != day:
            _on_close(book, moment)
        start = moment
    _evaluate(book, start, now, include_end=True)
    user.synced_at = now


def book_sync(user: PaperUser, now: dt.datetime) -> None:
    """Apply whatever the passage of time did to this user's books (cheap when nothing did)."""
    day = book_day(now)
    close_due = (not market_always_open() and is_trading_day(day) and now >= at(day, MIS_SQUARE_OFF)
                 and user.closed_day != day)
    if user.book_day < day or close_due or (user.open_orders and now != user.synced_at):
        with locked_book(user.pk) as book:
            _advance(book, now)
        user.refresh_from_db()


def books_sync_open(now: dt.datetime) -> None:
    """Evaluate every user's open orders now (after a price was moved)."""
    for user_pk in PaperUser.objects.filter(open_orders__gt=0).values_list("pk", flat=True):
        with locked_book(user_pk) as book:
            _advance(book, now)
