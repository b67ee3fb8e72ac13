"""The passage of time: open orders meeting the price path, AMOs at the open, the MIS square-off,
DAY orders cancelled at the close, and the end-of-day settlement (cash, T1 holdings, carried
positions, expiries).

GTT triggers meet the price path with the open orders, and mutual fund orders and SIP instalments
follow the day rollovers (`sandbox.engine.gtt`, `sandbox.engine.mf`).

Nothing runs on a timer: whenever a user's books are next touched, `book_advance` replays every
event since they were last brought up to date, in time order (`book_sync` does it under the lock,
and only when something may have happened).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Q

from sandbox import accounting as acc
from sandbox import pricing
from sandbox.accounting import ZERO, dec
from sandbox.clock import (
    FO_SQUARE_OFF,
    IST,
    MIS_SQUARE_OFF,
    SQUARE_OFF_BY_EXCHANGE,
    at,
    book_day,
    in_session,
    is_market_open,
    is_trading_day,
    session_close,
    session_open,
)
from sandbox.conf import market_always_open
from sandbox.engine.book import Book, locked_book
from sandbox.engine.gtt import gtt_evaluate
from sandbox.engine.lifecycle import (
    order_go_live,
    order_mark_cancelled,
    order_mark_rejected,
    order_match,
    order_preopen_match,
    order_square_off,
)
from sandbox.engine.margins import INTRADAY_PRODUCTS, ltp, required_margin, rms_check
from sandbox.engine.mf import mf_day_begins, mf_end_of_day
from sandbox.engine.spec import AMO_RECEIVED, OPEN, OPEN_STATUSES, PREOPEN_MATCH, PREOPEN_START, TRIGGER_PENDING
from sandbox.models import Holding, Order, PaperUser
from sandbox.universe import Instrument, instrument_by_token

TTL_LAPSED = "Order cancelled: its TTL validity lapsed."
CANCELLED_AT_CLOSE = "Order cancelled by the exchange at the end of the trading day."
CANCELLED_AT_SQUARE_OFF = "Order cancelled by the system at the intraday square-off."
# Which square-off (sandbox.clock.SQUARE_OFF_BY_EXCHANGE) closes which exchanges' MIS positions.
EQUITY_EXCHANGES = tuple(e for e, t in SQUARE_OFF_BY_EXCHANGE.items() if t == MIS_SQUARE_OFF)
FO_EXCHANGES = tuple(e for e, t in SQUARE_OFF_BY_EXCHANGE.items() if t == FO_SQUARE_OFF)


def _evaluate(book: Book, start: dt.datetime, end: dt.datetime, *, include_end: bool) -> None:
    """Active GTT triggers, then open orders (those they placed included), meet the price path in
    (start, end) (and at `end` when include_end)."""
    triggers = book.active_gtts()
    live = [o for o in book.open_orders() if o.status in (OPEN, TRIGGER_PENDING)]
    if not live and not triggers:
        return
    marks = [m for m in pricing.minute_marks(start, end) if m < end and in_session(m)]
    if include_end and is_market_open(end):
        marks.append(end)
    if triggers:
        gtt_evaluate(book, marks)
        live = [o for o in book.open_orders() if o.status in (OPEN, TRIGGER_PENDING)]
    seen: set[int] = set()
    while live:
        seen.update(id(o) for o in live)
        _evaluate_orders(book, live, marks, end)
        # Orders these fills placed (a cover order's stop-loss leg, an iceberg's next leg) meet the
        # rest of the same path.
        live = [o for o in book.open_orders() if o.status in (OPEN, TRIGGER_PENDING) and id(o) not in seen]


def _placed_by_a_fill(order: Order) -> bool:
    """A cover order's stop-loss leg or an iceberg's second or later leg: the book at the instant
    of the fill that placed it was met by that fill, so it meets the market from the next instant."""
    return bool(order.parent_order_id) or (order.meta or {}).get("iceberg", {}).get("leg", 1) > 1


def _evaluate_orders(book: Book, live: list[Order], marks: list[dt.datetime], end: dt.datetime) -> None:
    for order in live:
        inst = instrument_by_token(order.instrument_token)
        if inst is None:
            continue
        later_only = _placed_by_a_fill(order)
        for mark in marks:
            if mark < order.order_timestamp or (later_only and mark == order.order_timestamp):
                continue
            if order.expires_at and mark >= order.expires_at:
                order_mark_cancelled(book, order, order.expires_at, TTL_LAPSED)
                break
            if order_match(book, order, inst, mark, resting=True):
                break
        else:
            if order.expires_at and order.status in OPEN_STATUSES and order.expires_at <= end:
                order_mark_cancelled(book, order, order.expires_at, TTL_LAPSED)


def _on_open(book: Book, moment: dt.datetime) -> None:
    """AMOs due at this open reach the exchange, after the risk checks an order placed now would pass."""
    for order in book.open_orders():
        if order.status != AMO_RECEIVED or (order.active_from and order.active_from > moment):
            continue
        inst = instrument_by_token(order.instrument_token)
        if inst is None or (inst.expiry and inst.expiry < book_day(moment)):
            order_mark_rejected(book, order, moment, "The instrument has expired.", "RMS:Instrument expired")
            continue
        order.blocked_margin = ZERO
        problem = rms_check(book, order, inst, moment)
        if problem:
            order_mark_rejected(book, order, moment, *problem)
            continue
        order.blocked_margin = required_margin(book, order, inst, moment)
        order_go_live(book, order, inst, moment)


def _on_preopen_match(book: Book, moment: dt.datetime) -> None:
    """09:08, the end of the pre-open order entry: per instrument one equilibrium price, the day's
    opening price (the sandbox's stand-in for the auction's discovered price, deterministic as every
    price here), and the orders it satisfies fill at it (`order_preopen_match`)."""
    day = book_day(moment)
    start = at(day, PREOPEN_START)
    for order in book.open_orders():
        if order.status != OPEN or not (start <= order.order_timestamp < moment) or order.filled_quantity:
            continue
        inst = instrument_by_token(order.instrument_token)
        if inst is None:
            continue
        order_preopen_match(book, order, inst, ltp(inst, session_open(day)), moment)


def _on_square_off(book: Book, moment: dt.datetime, exchanges: tuple[str, ...] | None = None) -> None:
    """Intraday (MIS, and cover order) orders are cancelled and those positions closed at market
    price (on `exchanges`, or every exchange)."""
    for order in book.open_orders():
        if order.product in INTRADAY_PRODUCTS and order.status != AMO_RECEIVED and (
                exchanges is None or order.exchange in exchanges):
            order_mark_cancelled(book, order, moment, CANCELLED_AT_SQUARE_OFF)
    for pos in list(book.positions.values()):
        inst = instrument_by_token(pos.instrument_token)
        if pos.product in INTRADAY_PRODUCTS and pos.quantity and inst is not None and (
                exchanges is None or inst.exchange in exchanges):
            order_square_off(book, pos, inst, moment)


def _on_close(book: Book, moment: dt.datetime) -> None:
    """DAY orders still open at the close are cancelled by the exchange (AMOs wait for their open)."""
    for order in book.open_orders():
        if order.status != AMO_RECEIVED:
            order_mark_cancelled(book, order, moment, CANCELLED_AT_CLOSE)
    book.user.closed_day = book_day(moment)


def _end_of_day(book: Book, day: dt.date, next_day: dt.date) -> None:
    """Settle `day`: cash flows, CNC buys to holdings (T1), carried positions, expiries."""
    user = book.user
    end = at(day, dt.time(23, 59, 59))
    if market_always_open() or not is_trading_day(day):
        for order in book.open_orders():
            if order.status != AMO_RECEIVED:
                order_mark_cancelled(book, order, end, CANCELLED_AT_CLOSE)
        if is_trading_day(day) or any(p.product in INTRADAY_PRODUCTS and p.quantity for p in book.positions.values()):
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
    user.opening_balance += cash - user.charges_today
    user.charges_today = ZERO
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
    """The day rollovers, opens, square-offs and closes in (start, end], in time order."""
    out: list[tuple[dt.datetime, str]] = []
    day = start.astimezone(IST).date()
    last = end.astimezone(IST).date()
    always_open = market_always_open()
    while day <= last:
        candidates = [(at(day, dt.time(0, 0)), "rollover")]
        if is_trading_day(day):
            candidates.append((session_open(day), "open"))
            if not always_open:
                candidates.append((at(day, PREOPEN_MATCH), "preopen_match"))
                candidates += [(at(day, MIS_SQUARE_OFF), "square_off"), (at(day, FO_SQUARE_OFF), "square_off_fo"),
                               (session_close(day), "close")]
        out += [(moment, kind) for moment, kind in candidates if start < moment <= end]
        day += dt.timedelta(days=1)
    return out


def book_advance(book: Book, now: dt.datetime) -> None:
    """Bring a locked book up to `now`, handling every event in time order."""
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
                ended = user.book_day
                _end_of_day(book, ended, ended + dt.timedelta(days=1))
                mf_end_of_day(book, ended)
                mf_day_begins(book, user.book_day)
        elif kind == "preopen_match":
            _on_preopen_match(book, moment)
        elif kind == "open":
            _on_open(book, moment)
        elif kind == "square_off" and user.closed_day != day:
            _on_square_off(book, moment, EQUITY_EXCHANGES)
        elif kind == "square_off_fo" and user.closed_day != day:
            _on_square_off(book, moment, FO_EXCHANGES)
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
    waiting = user.open_orders or user.active_gtts
    if user.book_day < day or close_due or (waiting and now != user.synced_at):
        with locked_book(user.pk) as book:
            book_advance(book, now)
        user.refresh_from_db()


def books_sync_open(now: dt.datetime) -> None:
    """Evaluate every user's open orders and GTT triggers now (after a price was moved)."""
    waiting = PaperUser.objects.filter(Q(open_orders__gt=0) | Q(active_gtts__gt=0))
    for user_pk in waiting.values_list("pk", flat=True):
        with locked_book(user_pk) as book:
            book_advance(book, now)
