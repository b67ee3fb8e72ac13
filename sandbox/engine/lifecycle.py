"""What happens to an order inside a locked book: placed, modified, cancelled, triggered, filled,
rejected, squared off.

Every function here works on a `Book` its caller has locked and brought up to `now` (see
`sandbox.engine.services` and `sandbox.engine.scheduler`): nothing here locks or reads the clock,
so the services and the passage of time (and later GTT triggers) share one set of rules. Input
errors raise InputError and leave the book as it was (the caller's transaction rolls back); a risk
rejection is a REJECTED order, as on Kite.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from sandbox import accounting as acc
from sandbox import charges as fees
from sandbox import events
from sandbox.accounting import ZERO
from sandbox.clock import book_day, is_market_open, next_open_after
from sandbox.depth import Depth, market_depth, passive_side, walk
from sandbox.engine.book import Book
from sandbox.engine.margins import (
    co_trigger_range,
    ltp,
    margin_summary,
    required_margin,
    rms_check,
    sellable_quantity,
)
from sandbox.engine.spec import (
    AMO_RECEIVED,
    AUTOMATIC,
    CANCELLED,
    COMPLETE,
    MAX_MODIFICATIONS,
    OPEN,
    OPEN_STATUSES,
    REJECTED,
    TRIGGER_PENDING,
    Form,
    OrderSpec,
    autoslice_quantities,
    in_preopen,
    order_spec_parse,
    protection_percent,
)
from sandbox.errors import InputError, KiteError, MarginError, OrderError
from sandbox.models import Order, Position, Trade
from sandbox.universe import Instrument, instrument_by_token

MARKET_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."
IOC_CANCELLED = "Order cancelled: IOC orders are cancelled when they cannot fill at once."


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


def order_mark_rejected(book: Book, order: Order, moment: dt.datetime, message: str, raw: str) -> None:
    """A risk rejection: the order ends REJECTED with Kite's message and its raw RMS line."""
    order.status, order.status_message, order.status_message_raw = REJECTED, message, raw
    order.pending_quantity, order.blocked_margin = 0, ZERO
    order.exchange_update_timestamp = moment
    book.snapshot(order)
    book.touch(order)
    events.order_updated(order=order, user=book.user)


def order_mark_cancelled(book: Book, order: Order, moment: dt.datetime, message: str | None = None) -> None:
    """The order ends CANCELLED now (IOC, TTL, the close, the square-off, or the user's cancel)."""
    order.status, order.status_message = CANCELLED, message or ""
    order.cancelled_quantity, order.pending_quantity = order.quantity - order.filled_quantity, 0
    order.blocked_margin = ZERO
    order.exchange_update_timestamp = moment
    book.snapshot(order)
    book.touch(order)
    events.order_updated(order=order, user=book.user)


def fill_charges(order: Order, inst: Instrument, fill_price: Decimal, quantity: int | None = None) -> fees.Charges:
    """Zerodha's charges on this order executed at `fill_price` (what its contract note shows), for
    `quantity` (default: the whole order)."""
    segment = fees.segment_for(exchange=inst.exchange, instrument_type=inst.instrument_type, product=order.product)
    return fees.order_charges(segment=segment, exchange=inst.exchange, transaction_type=order.transaction_type,
                              quantity=order.quantity if quantity is None else quantity, price=fill_price)


def _trade(book: Book, order: Order, inst: Instrument, price: Decimal, quantity: int, moment: dt.datetime) -> None:
    """`quantity` of the order trades at `price`: the position, holdings used today, the order's
    filled quantity and average price, its trade, and the trade's charges (taken from the day's cash).

    A trade's charges are what the order's charges grew by with it (the charges of everything filled
    so far at its average price, less those of what was filled before): brokerage is per executed
    order on Zerodha (0.03% or Rs 20, whichever is lower), so an order filled in five trades pays it
    once, and the trades' charges add up to the order's."""
    pos = book.position(inst, order.product)
    if order.product == "CNC" and order.transaction_type == "SELL":
        holding = book.holdings.get(inst.instrument_token)
        intraday_long = max(0, pos.day_buy_quantity - pos.day_sell_quantity
                            + (holding.used_quantity if holding else 0))
        from_holdings = quantity - min(quantity, intraday_long)
        if from_holdings and holding is not None:
            holding.used_quantity += from_holdings
            book.touch(holding)
    value = price * quantity
    if order.transaction_type == "BUY":
        pos.day_buy_quantity += quantity
        pos.day_buy_value += value
    else:
        pos.day_sell_quantity += quantity
        pos.day_sell_value += value
    book.touch(pos)
    before, before_value = order.filled_quantity, order.average_price * order.filled_quantity
    charged_before = fill_charges(order, inst, order.average_price, before).debit if before else ZERO
    order.filled_quantity = before + quantity
    order.average_price = (before_value + value) / order.filled_quantity
    order.pending_quantity = order.quantity - order.filled_quantity
    order.exchange_update_timestamp = moment
    charges = fill_charges(order, inst, order.average_price, order.filled_quantity).debit - charged_before
    book.user.charges_today += charges
    book.touch(order)
    trade = Trade.objects.create(
        user=book.user, order=order, exchange=order.exchange, tradingsymbol=order.tradingsymbol,
        instrument_token=order.instrument_token, product=order.product, transaction_type=order.transaction_type,
        quantity=quantity, price=price, charges=charges, fill_timestamp=moment,
        book_day=book_day(moment), trade_id=_placeholder())
    trade.trade_id = str(10_000_000 + trade.pk)
    Trade.objects.filter(pk=trade.pk).update(trade_id=trade.trade_id)


def protection_price(order: Order, inst: Instrument, moment: dt.datetime) -> Decimal:
    """The worst price a protected MARKET/SL-M order may trade at: the last price now plus (a buy) or
    minus (a sell) its band, on the tick inside the band."""
    last = ltp(inst, moment)
    band = last * protection_percent(order.market_protection, inst, last) / 100
    tick = acc.dec(inst.price_tick)
    if order.transaction_type == "BUY":
        return ((last + band) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
    return max(tick, ((last - band) / tick).to_integral_value(rounding="ROUND_CEILING") * tick)


def _limit_of(order: Order) -> Decimal | None:
    """The price an order may not trade beyond: its own (LIMIT, SL), its protection band's (a
    protected MARKET or SL-M), none for the system's unprotected square-off orders."""
    if order.order_type in ("LIMIT", "SL"):
        return order.price
    return order.protection_price if order.market_protection else None


def order_match(book: Book, order: Order, inst: Instrument, moment: dt.datetime, *, resting: bool = False) -> bool:
    """Trigger `order` if the last price at `moment` allows, then trade it against the book at
    `moment` (`sandbox.depth`); True when it is complete.

    An order arriving (placed, modified, just triggered) takes the opposite levels within its limit,
    each at its price: several trades, the average their traded average. An order already resting
    (`resting`) is the passive side when the market comes to it (the last price reaches its limit):
    it trades at its own limit, as much as the opposite levels from the last price to that limit
    hold (`sandbox.depth.passive_side`). What is left stays OPEN. A book is met whole, less what this
    order already took from that same book (`_same_book`: prices, and so books, hold for a minute); a resting
    order meets the book it last traded against again only when it changed."""
    buy = order.transaction_type == "BUY"
    if order.order_type in ("SL", "SL-M") and not order.triggered:
        price = ltp(inst, moment)
        hit = price >= order.trigger_price if buy else price <= order.trigger_price
        if not hit:
            return False
        order.triggered = True
        order.status = OPEN
        if order.order_type == "SL-M":
            order.protection_price = protection_price(order, inst, moment)
        book.touch(order)
        book.snapshot(order)
        resting = False  # it enters the book now
    limit = _limit_of(order)
    depth = market_depth(inst, moment)
    same_book = _same_book(order, moment, depth)
    if resting and same_book:
        return False  # the market has not come to it: it took all it could reach of this book already
    skip = order.matched_quantity if same_book else 0
    if resting and limit is not None:
        levels = passive_side(depth, order.transaction_type, ltp(inst, moment), inst.price_tick)
        trades = walk(levels, order.pending_quantity, buy=buy, limit=limit, skip=skip)
        trades = [(limit, sum(units for _, units in trades))] if trades else []
    else:
        trades = walk(depth.side_for(order.transaction_type), order.pending_quantity, buy=buy, limit=limit,
                      skip=skip)
    for price, units in trades:
        _trade(book, order, inst, price, units, moment)
    if not trades:
        return False
    order.matched_quantity = skip + sum(units for _, units in trades)
    order.matched_at, order.matched_book = moment, depth.digest()
    if order.pending_quantity == 0:
        order.status, order.blocked_margin = COMPLETE, ZERO
    else:
        order.blocked_margin = required_margin(book, order, inst, moment)
    book.snapshot(order)
    events.order_updated(order=order, user=book.user, update=True)  # a fill: COMPLETE, or UPDATE when partial
    if order.status == COMPLETE:
        _order_completed(book, order, inst, moment)
    return order.status == COMPLETE


def _same_book(order: Order, moment: dt.datetime, depth: Depth) -> bool:
    """Whether the order last traded against this very book: in the same minute, at the same prices and
    quantities. (Keyed on the instant, a second look at the minute's book, say when another order was placed
    a few seconds later, filled the order again from the same sellers.)"""
    matched = order.matched_at
    if matched is None or not order.matched_quantity or matched > moment:
        return False
    same_minute = matched.replace(second=0, microsecond=0) == moment.replace(second=0, microsecond=0)
    return same_minute and order.matched_book == depth.digest()


def order_go_live(book: Book, order: Order, inst: Instrument, moment: dt.datetime, *, match: bool = True) -> None:
    """The order reaches the exchange: OPEN (or TRIGGER PENDING), and trades at once as far as the
    book allows (unless not `match`: a leg the system places after a fill meets the market from the
    next instant); an IOC order's remainder is cancelled."""
    book.snapshot(order, "OPEN PENDING")
    _to_exchange(order, moment)
    order.status = TRIGGER_PENDING if order.order_type in ("SL", "SL-M") else OPEN
    if order.order_type == "MARKET" and order.market_protection:
        order.protection_price = protection_price(order, inst, moment)
    book.snapshot(order)
    book.touch(order)
    events.order_updated(order=order, user=book.user)
    if not match:
        return
    if not order_match(book, order, inst, moment) and order.validity == "IOC":
        order_mark_cancelled(book, order, moment, IOC_CANCELLED)


def protection_tags(protection: Decimal, inst: Instrument, moment: dt.datetime) -> list[str]:
    """Kite's tags on a protected MARKET/SL-M order: "mktp" and the band applied, e.g. "mktp:2.00".

    The order trades as a limit at the last price +/- that band (`protection_price`): what the book
    holds within it fills at once, the rest rests at the band's price."""
    if not protection:
        return []
    return ["mktp", f"mktp:{protection_percent(protection, inst, ltp(inst, moment)):.2f}"]


def order_place_in_book(book: Book, *, spec: OrderSpec, now: dt.datetime, tags: tuple[str, ...] = (),
                        app_id: int = 0) -> Order:
    """Place a parsed order in `book`: it goes live (and may fill at once), waits for the open (an
    AMO), or is REJECTED (market closed, insufficient funds or holdings). A stop-loss trigger on the
    wrong side of the market raises InputError. `tags` are Kite's own (autoslice); `app_id` the app placing
    it (its postbacks go there)."""
    inst = spec.inst
    open_now = is_market_open(now)
    if spec.variety == "co" and open_now:
        _co_trigger_check(inst, spec.transaction_type, spec.trigger_price, now)
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
        validity_ttl=spec.validity_ttl, quantity=_first_leg(spec), disclosed_quantity=spec.disclosed_quantity,
        price=spec.price, trigger_price=spec.trigger_price, pending_quantity=_first_leg(spec), meta=_iceberg_meta(spec),
        status="PUT ORDER REQ RECEIVED", tag=spec.tag or "", market_protection=spec.market_protection,
        system_tags=[*protection_tags(spec.market_protection, inst, now), *tags], order_timestamp=now,
        book_day=book_day(now), order_id=_placeholder(), app_id=app_id)
    _assign_ids(order)
    book.orders.append(order)
    book.touch(order)
    if spec.variety == "amo" and not open_now:
        book.snapshot(order, AMO_RECEIVED)
    else:
        book.snapshot(order)
        book.snapshot(order, "VALIDATION PENDING")
    preopen = (not open_now and spec.variety == "regular" and spec.order_type in ("MARKET", "LIMIT")
               and in_preopen(inst, now))
    if not open_now and spec.variety != "amo" and not preopen:
        order_mark_rejected(book, order, now, MARKET_CLOSED, "RMS:Market is closed")
        return order
    problem = rms_check(book, order, inst, now)
    if problem:
        order_mark_rejected(book, order, now, *problem)
        return order
    order.blocked_margin = required_margin(book, order, inst, now)
    if spec.validity == "TTL":
        order.expires_at = now + dt.timedelta(minutes=spec.validity_ttl)
    if spec.variety == "amo" and not open_now:
        order.status = AMO_RECEIVED
        order.active_from = next_open_after(now)
        return order
    if preopen:
        _preopen_collect(book, order, now)
        return order
    order_go_live(book, order, inst, now)
    return order


# --- pre-open (NSE equities, 09:00-09:08 IST) ----------------------------------------------------------

def _preopen_collect(book: Book, order: Order, moment: dt.datetime) -> None:
    """An order placed in the pre-open reaches the exchange and waits (OPEN) for the price discovery
    at 09:08 (`order_preopen_match`): nothing trades before it."""
    book.snapshot(order, "OPEN PENDING")
    _to_exchange(order, moment)
    order.status = OPEN
    book.snapshot(order)
    book.touch(order)
    events.order_updated(order=order, user=book.user)


def order_preopen_match(book: Book, order: Order, inst: Instrument, price: Decimal, moment: dt.datetime) -> None:
    """The call auction's matching at 09:08: a pre-open order that the equilibrium `price` satisfies
    (any MARKET order, a buy limit at or above it, a sell limit at or below it) fills at that one
    price, in full; any other stays OPEN for the normal session."""
    buy = order.transaction_type == "BUY"
    if order.order_type == "LIMIT" and (order.price < price if buy else order.price > price):
        return
    _trade(book, order, inst, price, order.pending_quantity, moment)
    order.status, order.blocked_margin = COMPLETE, ZERO
    book.snapshot(order)
    events.order_updated(order=order, user=book.user, update=True)


# --- cover orders and iceberg legs ----------------------------------------------------------------------

def _first_leg(spec: OrderSpec) -> int:
    return min(spec.quantity, spec.iceberg_quantity) if spec.variety == "iceberg" else spec.quantity


def _iceberg_meta(spec: OrderSpec) -> dict[str, Any]:
    if spec.variety != "iceberg":
        return {}
    first = _first_leg(spec)
    return {"iceberg": {"leg": 1, "legs": spec.iceberg_legs, "leg_quantity": spec.iceberg_quantity,
                        "total_quantity": spec.quantity, "remaining_quantity": spec.quantity - first}}


def _co_trigger_check(inst: Instrument, transaction_type: str, trigger: Decimal, moment: dt.datetime) -> None:
    """A cover order's stop-loss trigger must sit inside the trigger range, on the losing side: below
    the last price for a BUY entry, above it for a SELL entry."""
    lower, upper = co_trigger_range(inst, moment)
    last = ltp(inst, moment)
    low, high = (lower, last) if transaction_type == "BUY" else (last, upper)
    if not (low <= trigger <= high) or trigger == last:
        # The sandbox's wording: Kite's own is not documented.
        raise InputError(f"Trigger price {trigger} is out of the range for a {transaction_type} cover order: the "
                         f"stop-loss must be between {low} and {high}, and not at the last price {last}.")


def _order_completed(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> None:
    """What follows a complete order: a cover order's entry gets its stop-loss leg; an iceberg leg
    the next leg, until the total is placed."""
    if order.variety == "co" and not order.parent_order_id:
        _co_stoploss_leg(book, order, inst, moment, order.filled_quantity)
    elif order.variety == "iceberg" and order.meta.get("iceberg", {}).get("remaining_quantity"):
        _iceberg_next_leg(book, order, inst, moment)


def _co_stoploss_leg(book: Book, entry: Order, inst: Instrument, moment: dt.datetime, quantity: int) -> Order:
    """The cover order's second leg: an SL-M order the other way for what the entry filled, at the
    entry's trigger price, with Kite's automatic market protection; it blocks no margin of its own
    (the position's margin covers it)."""
    leg = Order.objects.create(
        user=book.user, variety="co", exchange=entry.exchange, tradingsymbol=entry.tradingsymbol,
        instrument_token=entry.instrument_token, transaction_type="SELL" if entry.transaction_type == "BUY" else "BUY",
        order_type="SL-M", product=entry.product, validity="DAY", quantity=quantity, pending_quantity=quantity,
        trigger_price=entry.trigger_price, status="PUT ORDER REQ RECEIVED", tag=entry.tag,
        market_protection=AUTOMATIC, system_tags=protection_tags(AUTOMATIC, inst, moment),
        parent_order_id=entry.order_id, order_timestamp=moment, book_day=book_day(moment), order_id=_placeholder(),
        app_id=entry.app_id)
    _assign_ids(leg)
    book.orders.append(leg)
    book.touch(leg)
    book.snapshot(leg)
    order_go_live(book, leg, inst, moment, match=False)
    return leg


def _iceberg_next_leg(book: Book, done: Order, inst: Instrument, moment: dt.datetime) -> None:
    """Place the iceberg's next leg, a copy of the leg just filled (its price as last modified), after
    the same risk checks as any order: it meets the market from the next instant on."""
    info = dict(done.meta["iceberg"])
    quantity = min(info["leg_quantity"], info["remaining_quantity"])
    info.update(leg=info["leg"] + 1, remaining_quantity=info["remaining_quantity"] - quantity)
    leg = Order.objects.create(
        user=book.user, variety="iceberg", exchange=done.exchange, tradingsymbol=done.tradingsymbol,
        instrument_token=done.instrument_token, transaction_type=done.transaction_type, order_type=done.order_type,
        product=done.product, validity=done.validity, validity_ttl=done.validity_ttl, quantity=quantity,
        pending_quantity=quantity, price=done.price, status="PUT ORDER REQ RECEIVED", tag=done.tag,
        meta={"iceberg": info}, order_timestamp=moment, expires_at=done.expires_at, book_day=book_day(moment),
        order_id=_placeholder(), app_id=done.app_id)
    _assign_ids(leg)
    book.orders.append(leg)
    book.touch(leg)
    book.snapshot(leg)
    book.snapshot(leg, "VALIDATION PENDING")
    problem = rms_check(book, leg, inst, moment)
    if problem:
        order_mark_rejected(book, leg, moment, *problem)
        return
    leg.blocked_margin = required_margin(book, leg, inst, moment)
    order_go_live(book, leg, inst, moment, match=False)


def _co_exit_leg(book: Book, leg: Order, inst: Instrument, moment: dt.datetime) -> None:
    """Exit a cover order's position: its stop-loss leg becomes a MARKET order and trades at once
    (walking the book; what the five levels do not hold at the fifth level's price, as the
    square-off does)."""
    book.snapshot(leg, "MODIFY VALIDATION PENDING")
    leg.order_type, leg.triggered, leg.status = "MARKET", True, OPEN
    leg.protection_price = ZERO
    leg.market_protection = ZERO  # the system's exit, like the square-off: no band
    leg.modified = True
    book.snapshot(leg, "MODIFIED")
    book.touch(leg)
    if not order_match(book, leg, inst, moment):
        levels = [level for level in market_depth(inst, moment).side_for(leg.transaction_type) if level.quantity]
        price = levels[-1].price if levels else ltp(inst, moment)
        _trade(book, leg, inst, price, leg.pending_quantity, moment)
        leg.status, leg.blocked_margin = COMPLETE, ZERO
        book.snapshot(leg)
        events.order_updated(order=leg, user=book.user, update=True)


def order_exit_in_book(book: Book, *, order_id: str, parent_order_id: str | None, now: dt.datetime) -> Order:
    """`DELETE /orders/co/{order_id}?parent_order_id=`: exit a cover order. Its open stop-loss leg
    (with its entry's id as `parent_order_id`) is squared at the market; an entry not yet filled is
    cancelled (what part of it filled is squared at the market). Anything else is refused by name."""
    order = _find_order(book, order_id)
    if order.variety != "co":
        raise InputError(f"Order {order_id} is a {order.variety} order, not a cover order: cancel it with variety "
                         f"{order.variety}.")
    if parent_order_id and parent_order_id != (order.parent_order_id or order.order_id):
        raise InputError(f"Invalid `parent_order_id` {parent_order_id}: order {order_id} belongs to cover order "
                         f"{order.parent_order_id or order.order_id}.")
    if order.status not in OPEN_STATUSES:
        if not order.parent_order_id:
            leg = next((o for o in book.open_orders() if o.parent_order_id == order.order_id), None)
            if leg is not None:
                raise InputError(f"Cover order {order_id} is filled: exit it with its stop-loss leg, order_id "
                                 f"{leg.order_id} and parent_order_id {order_id}.")
        raise _closed_state_error(order, "exited")
    inst = instrument_by_token(order.instrument_token)
    if inst is None:
        raise OrderError("The instrument of this order is no longer traded.")
    if order.parent_order_id:
        if not parent_order_id:
            raise InputError(f"Missing `parent_order_id`: order {order_id} is the stop-loss leg of cover order "
                             f"{order.parent_order_id}, and exiting it needs that id.")
        _co_exit_leg(book, order, inst, now)
        return order
    book.snapshot(order, "CANCEL PENDING")
    order_mark_cancelled(book, order, now)
    if order.filled_quantity:
        _co_exit_leg(book, _co_stoploss_leg(book, order, inst, now, order.filled_quantity), inst, now)
    return order


def order_square_off(book: Book, pos: Position, inst: Instrument, moment: dt.datetime) -> None:
    """Close a position at the market: an `autosquareoff` MARKET order (no protection band), filled
    at once: it walks the book, and what the five levels do not hold trades at the fifth level's
    price (the book goes deeper than the five levels a quote shows)."""
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
    book.touch(order)
    if not order_match(book, order, inst, moment):
        levels = [level for level in market_depth(inst, moment).side_for(side) if level.quantity]
        price = levels[-1].price if levels else ltp(inst, moment)
        _trade(book, order, inst, price, order.pending_quantity, moment)
        order.status, order.blocked_margin = COMPLETE, ZERO
        book.snapshot(order)


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


def order_modify_in_book(book: Book, *, order_id: str, params: Form, now: dt.datetime) -> Order:
    """Change an open order (what `params` leaves out stays as it was); it may fill at once. A change
    that breaks a rule, or that funds or holdings do not cover, raises and leaves the order as it was."""
    order = _find_order(book, order_id)
    if order.status not in OPEN_STATUSES:
        raise _closed_state_error(order, "modified")
    if order.modification_count >= MAX_MODIFICATIONS:
        raise OrderError("Maximum allowed order modifications exceeded. Cancel the order and place it again.")
    inst = instrument_by_token(order.instrument_token)
    if inst is None:  # an instrument that no longer exists
        raise OrderError("The instrument of this order is no longer traded.")
    if order.parent_order_id:
        return _co_leg_modify(book, order, inst, params, now)
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
        "market_protection": (params.get("market_protection")
                              if params.get("market_protection") not in (None, "") else order.market_protection),
    }
    if str(merged["order_type"]).upper() == "MARKET":
        merged["price"] = None
    spec = order_spec_parse(order.variety, merged, now)
    if spec.quantity <= order.filled_quantity:
        # The sandbox's wording: Kite's own for this case is not documented.
        raise InputError(f"Invalid `quantity` {spec.quantity}: {order.filled_quantity} of this order are already "
                         "filled; the new quantity must be more than that.")
    previous = {f: getattr(order, f) for f in ("order_type", "quantity", "price", "trigger_price", "validity",
                                               "validity_ttl", "disclosed_quantity", "blocked_margin",
                                               "market_protection", "system_tags", "protection_price")}
    order.market_protection = spec.market_protection
    if spec.order_type == "MARKET" and spec.market_protection:
        order.protection_price = protection_price(order, inst, now)
    order.system_tags = [*protection_tags(spec.market_protection, inst, now),
                         *(t for t in order.system_tags if t.startswith("autoslice"))]
    order.order_type, order.quantity, order.price = spec.order_type, spec.quantity, spec.price
    order.trigger_price, order.validity, order.validity_ttl = spec.trigger_price, spec.validity, spec.validity_ttl
    order.disclosed_quantity = spec.disclosed_quantity
    order.blocked_margin = ZERO  # its own margin must not count against it
    if order.product == "CNC" and order.transaction_type == "SELL":
        available_quantity = sellable_quantity(book, inst, exclude=order)
        if order.quantity > available_quantity:
            for field, value in previous.items():
                setattr(order, field, value)
            raise KiteError(f"Insufficient holdings. Available quantity to sell is {max(available_quantity, 0)} "
                            f"but the order quantity is {order.quantity}.", error_type="HoldingException")
    required = required_margin(book, order, inst, now)
    available = margin_summary(book, now).net
    if required > available:
        for field, value in previous.items():
            setattr(order, field, value)
        raise MarginError(f"Insufficient funds. Required margin is {acc.money(required):.2f} but available "
                          f"margin is {acc.money(available):.2f}.")
    order.blocked_margin = required
    order.pending_quantity = order.quantity - order.filled_quantity
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
    events.order_updated(order=order, user=book.user, update=True)  # modified: UPDATE while open
    if status != AMO_RECEIVED:
        order.exchange_update_timestamp = now
        if not is_market_open(now):  # a pre-open order waits for the 09:08 matching
            return order
        if not order_match(book, order, inst, now) and order.validity == "IOC":
            order_mark_cancelled(book, order, now, IOC_CANCELLED)
    return order


def _co_leg_modify(book: Book, leg: Order, inst: Instrument, params: Form, now: dt.datetime) -> Order:
    """A cover order's stop-loss leg moves only its trigger price (Kite: co modifies `trigger_price`
    of the second leg), which stays on the losing side of the last price."""
    raw = params.get("trigger_price")
    if raw in (None, ""):
        raise InputError("Missing `trigger_price`: a cover order's stop-loss leg changes only its trigger price.")
    try:
        trigger = Decimal(str(raw).strip())
    except ArithmeticError:
        raise InputError(f"Invalid `trigger_price` {raw!r}: expected a number.") from None
    if not trigger.is_finite() or trigger <= 0:
        raise InputError(f"Invalid `trigger_price` {raw!r}: expected a price above 0.")
    if not acc.on_tick(trigger, inst.price_tick):
        raise InputError(f"Tick size for this script is {inst.price_tick:.2f}. Kindly enter trigger price in the "
                         "multiple of tick size for this script")
    last = ltp(inst, now)
    if trigger >= last if leg.transaction_type == "SELL" else trigger <= last:
        side = "lower" if leg.transaction_type == "SELL" else "higher"
        raise InputError(f"Trigger price for stoploss {leg.transaction_type.lower()} orders should be {side} than "
                         f"the last traded price ({last}).")
    leg.trigger_price = trigger
    leg.modified, leg.modification_count = True, leg.modification_count + 1
    for interim in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
        book.snapshot(leg, interim)
    leg.exchange_update_timestamp = now
    book.snapshot(leg)
    book.touch(leg)
    events.order_updated(order=leg, user=book.user, update=True)
    return leg


def order_cancel_in_book(book: Book, *, order_id: str, now: dt.datetime) -> Order:
    """The user cancels an open order (InputError when it is unknown or already closed; a cover
    order is exited with variety co, `order_exit_in_book`)."""
    order = _find_order(book, order_id)
    if order.variety == "co":
        raise InputError(f"Order {order_id} is part of a cover order: exit it with variety co (and its "
                         "parent_order_id).")
    if order.status not in OPEN_STATUSES:
        raise _closed_state_error(order, "cancelled")
    book.snapshot(order, "CANCEL PENDING")
    order_mark_cancelled(book, order, now)
    return order


def _child_error(order: Order) -> dict[str, Any]:
    """A rejected slice as Kite's autoslice answer shows it: the RMS error instead of an order id."""
    kind = "HoldingException" if order.status_message.startswith("Insufficient holdings") else (
        "MarginException" if order.status_message.startswith("Insufficient funds") else "OrderException")
    return {"error": {"code": 400, "error_type": kind, "message": order.status_message, "data": None}}


def order_autoslice_in_book(book: Book, *, spec: OrderSpec, now: dt.datetime, app_id: int = 0) -> dict[str, Any]:
    """Place an autoslice order: slices of at most the freeze quantity (`autoslice_quantities`),
    each an order of its own tagged "autoslice" and "autoslice:<parent id>", answered in Kite's
    shape ({"order_id": parent, "children": [{"order_id"} | {"error"}]}). A slice the risk checks
    reject stays REJECTED in the order book and is answered as an error, as Kite answers it."""
    quantities = autoslice_quantities(spec)
    parent_id = f"{book_day(now):%y%m%d}9{secrets.randbelow(10**12):012d}"  # never an order's own id
    children = []
    for quantity in quantities:
        order = order_place_in_book(book, spec=dataclasses.replace(spec, quantity=quantity, autoslice=False),
                                    now=now, tags=("autoslice", f"autoslice:{parent_id}"), app_id=app_id)
        children.append(_child_error(order) if order.status == REJECTED else {"order_id": order.order_id})
    return {"order_id": parent_id, "children": children}
