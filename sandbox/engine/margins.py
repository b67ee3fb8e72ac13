"""Margins: what a user's books block, what an order would add, and Kite's risk (RMS) checks.

Reads a book and prices; writes nothing. The arithmetic itself is `sandbox.accounting`'s.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sandbox import accounting as acc
from sandbox import pricing
from sandbox.accounting import ZERO, dec
from sandbox.clock import IST, book_day, in_session, square_off_time
from sandbox.conf import market_always_open
from sandbox.engine.book import Book
from sandbox.errors import InputError
from sandbox.models import Order
from sandbox.universe import Instrument, instrument_by_key, instrument_by_token

# [unverified] Kite's exact text for a fresh MIS order after the square-off is not in API.md or the
# mocks; Zerodha says such orders are not allowed ("You will not be able to place fresh orders for
# MIS/CO order types ... after the auto square off time"). The raw RMS line is the one brokers' RMS
# are reported to answer ("RMS:Auto Square Off Block").
MIS_BLOCKED = ("Fresh MIS orders are not allowed after the intraday auto square-off time ({time}). Place a CNC or "
               "NRML order instead.")
MIS_BLOCKED_RAW = "RMS:Auto Square Off Block"
INTRADAY_PRODUCTS = ("MIS", "CO")
# What Zerodha holds back of the proceeds of holdings sold today (the `delivery` margin, "20% of value
# of stocks sold from demat/T1", Kite Connect's user/margins docs): the rest is usable for trading at
# once; none of it is withdrawable until the settlement.
DELIVERY_MARGIN = Decimal("0.20")
# [unverified] The band a cover order's stop-loss trigger must fall in: Kite answers it per instrument
# (GET /instruments/trigger_range) but publishes no formula; the sandbox allows 3% of the last price
# below it for a BUY cover order's stop-loss, above it for a SELL one's.
CO_TRIGGER_BAND = Decimal("0.03")


def mis_blocked(inst: Instrument, moment: dt.datetime) -> bool:
    """Past the MIS square-off of `inst`'s exchange, in a session (never when the market is kept
    always open: that mode squares off at midnight)."""
    if market_always_open() or not in_session(moment):
        return False
    return moment.astimezone(IST).time() >= square_off_time(inst.exchange)


def ltp(inst: Instrument, moment: dt.datetime) -> Decimal:
    """The last price as money: what orders fill at and margins are reckoned from."""
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
    charges: Decimal
    # What the day's trading takes from the opening balance (below 0 when sales credit more than
    # the rest uses): `net` is the opening balance less it.
    balance_used: Decimal
    delivery: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.opening_balance - self.balance_used

    @property
    def debits(self) -> Decimal:
        """`utilised.debits` as Kite shows it: never below 0 (a sale's credit shows in `net`)."""
        return max(ZERO, self.balance_used)


def margin_summary(book: Book, moment: dt.datetime) -> MarginSummary:
    """Kite's equity margins, from the day's positions and the open orders' blocked margin.

    net = opening balance - debits, where debits = span + exposure + net option premium paid +
    delivery (CNC) buys - CNC sales + the `delivery` margin (20% of the value of holdings sold today)
    - realised m2m + unrealised m2m losses + open orders' margin + the day's brokerage and charges
    (which leave the cash at the settlement). So 80% of what holdings sold for is usable at once.
    """
    span = exposure = premium = delivery = sales = realised = unrealised = held_back = ZERO
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
            holding = book.holdings.get(pos.instrument_token)
            if holding is not None and holding.used_quantity and pos.day_sell_quantity:
                from_demat = min(holding.used_quantity, pos.day_sell_quantity)
                held_back += DELIVERY_MARGIN * pos.day_sell_value * from_demat / pos.day_sell_quantity
        else:
            r, u = acc.m2m_split(acc.net_legs(pos), last)
            realised, unrealised = realised + r, unrealised + u
        s, e = acc.blocked_margin(inst, pos.product, pos.quantity, last, _underlying_price(inst, moment))
        span, exposure = span + s, exposure + e
    blocked = sum((o.blocked_margin for o in book.open_orders()), ZERO)
    charges = book.user.charges_today
    debits = (span + exposure + premium + delivery - sales + held_back - realised + max(ZERO, -unrealised)
              + blocked + charges)
    return MarginSummary(book.user.opening_balance, span, exposure, premium, sales, realised, unrealised, charges,
                         debits, held_back)


def _order_price_for_margin(order: Order, inst: Instrument, moment: dt.datetime) -> Decimal:
    if order.order_type in ("LIMIT", "SL"):
        return order.price
    if order.order_type == "SL-M":
        return order.trigger_price
    return ltp(inst, moment)


def sellable_quantity(book: Book, inst: Instrument, exclude: Order | None = None) -> int:
    """CNC shares that can still be sold: holdings not sold today, plus today's CNC buys not sold yet,
    less what open CNC sell orders (other than `exclude`) already claim."""
    holding = book.holdings.get(inst.instrument_token)
    used = holding.used_quantity if holding else 0
    held = holding.quantity - used if holding else 0
    pos = book.positions.get((inst.instrument_token, "CNC"))
    bought_today = max(0, pos.day_buy_quantity - (pos.day_sell_quantity - used)) if pos else 0
    reserved = sum(o.quantity - o.filled_quantity for o in book.open_orders()
                   if o is not exclude and o.instrument_token == inst.instrument_token and o.product == "CNC"
                   and o.transaction_type == "SELL")
    return held + bought_today - reserved


def required_margin(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> Decimal:
    """What `order` (what is left of it to fill) would add to the margin the user's position in `inst`
    already blocks."""
    pos = book.positions.get((inst.instrument_token, order.product))
    return acc.order_margin(inst, order.product, order.transaction_type, order.quantity - order.filled_quantity,
                            _order_price_for_margin(order, inst, moment), pos.quantity if pos else 0,
                            _underlying_price(inst, moment))


def rms_check(book: Book, order: Order, inst: Instrument, moment: dt.datetime) -> tuple[str, str] | None:
    """Kite's risk checks: (status_message, status_message_raw) when the order must be rejected."""
    if order.product in INTRADAY_PRODUCTS and mis_blocked(inst, moment):
        return (MIS_BLOCKED.format(time=square_off_time(inst.exchange).strftime("%H:%M")), MIS_BLOCKED_RAW)
    if order.product == "CNC" and order.transaction_type == "SELL":
        available = sellable_quantity(book, inst, exclude=order)
        if order.quantity > available:
            return (f"Insufficient holdings. Available quantity to sell is {max(available, 0)} but the order "
                    f"quantity is {order.quantity}.",
                    f"RMS:Rule: Check holdings, insufficient quantity for entity account-{book.user.user_id} "
                    f"for {inst.key}")
    required = required_margin(book, order, inst, moment)
    available = margin_summary(book, moment).net
    if required > available:
        r, a = acc.money(required), acc.money(available)
        return (f"Insufficient funds. Required margin is {r:.2f} but available margin is {a:.2f}.",
                f"RMS:Margin Exceeds,Required:{r:.2f}, Available:{a:.2f} for entity account-{book.user.user_id} "
                "across exchange across segment across product ")
    return None


def co_trigger_range(inst: Instrument, moment: dt.datetime) -> tuple[Decimal, Decimal]:
    """(lower, upper): where a cover order's stop-loss trigger may be, the last price +/- the band,
    on the tick inside it (a BUY cover order's below the last price, a SELL one's above)."""
    last = ltp(inst, moment)
    tick = dec(inst.price_tick)
    band = last * CO_TRIGGER_BAND
    lower = ((last - band) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
    upper = ((last + band) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
    return max(tick, lower), upper


def trigger_range_payload(*, transaction_type: str, keys: list[str], now: dt.datetime) -> dict:
    """`GET /instruments/trigger_range/{buy|sell}` as Kite's mock answers it: per instrument asked
    for, {"instrument_token": 0, "lower", "upper"} (the mock's token is 0; unknown instruments are
    left out, as the quote routes leave them out)."""
    if transaction_type.lower() not in ("buy", "sell"):
        raise InputError(f"Invalid transaction type {transaction_type!r}: use buy or sell.")
    if not keys:
        raise InputError("Missing `i`: give one or more instruments as EXCHANGE:TRADINGSYMBOL.")
    if len(keys) > 500:
        raise InputError(f"Too many instruments: at most 500 per request, got {len(keys)}.")
    out = {}
    for key in keys:
        inst = instrument_by_key(key.strip().upper(), book_day(now))
        if inst is None or inst.is_index:
            continue
        lower, upper = co_trigger_range(inst, now)
        out[key] = {"instrument_token": 0, "lower": float(lower), "upper": float(upper)}
    return out
