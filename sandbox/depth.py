"""Market depth: the five best bids and asks of an instrument at an instant, and walking them.

The book is a function of the instrument and the clock alone (like the prices it is built on), so
the same clock gives the same book in every process. The spread is one tick and the last price
sits on the side the last trade took (the tick rule): after an uptick (or no change) a buyer
lifted the offer, so the best ask is the last price and the best bid a tick below it; after a
downtick the best bid is the last price and the best ask a tick above. Each level holds a finite
quantity of a few hundred thousand rupees for a stock (a few hundred shares of a large cap), a
few dozen lots for a future or an option, larger further from the touch.

A paper order does not leave a mark on the book: the next instant's book is whole again (what one
order already took at an instant is skipped when it meets that same book again; see `walk`).

Pure: no database (prices come from `sandbox.pricing`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sandbox import pricing
from sandbox.clock import IST
from sandbox.universe import Instrument

LEVELS = 5
_MINUTE = dt.timedelta(minutes=1)
# Rupee value of the touch level of a stock; deeper levels hold more (see `_level_quantity`).
EQUITY_LEVEL_VALUE = 300_000
# Lots at the touch level of a future / an option.
FUTURE_LEVEL_LOTS, OPTION_LEVEL_LOTS = 6, 20


@dataclass(frozen=True)
class Level:
    price: Decimal
    quantity: int
    orders: int

    def as_kite(self) -> dict:
        return {"price": float(self.price), "quantity": self.quantity, "orders": self.orders}


EMPTY = Level(Decimal("0"), 0, 0)


@dataclass(frozen=True)
class Depth:
    """Bids best (highest) first, asks best (lowest) first; always LEVELS each (empty levels are 0)."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def digest(self) -> str:
        """Identifies this book (every price and quantity): the same digest, the same sellers and buyers."""
        return hashlib.sha256(repr((self.bids, self.asks)).encode()).hexdigest()[:32]

    def side_for(self, transaction_type: str) -> tuple[Level, ...]:
        """The levels an order of `transaction_type` trades against: a buy takes the asks."""
        return self.asks if transaction_type == "BUY" else self.bids


def _noise(*parts: object) -> float:
    """A number in [0, 1) from `parts`, the same in every process."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _level_quantity(inst: Instrument, price: float, level: int, stamp: str, side: str) -> int:
    """Between 0.5x and 1.5x a level's base size, growing by a quarter per level from the touch."""
    scale = (0.5 + _noise(inst.instrument_token, stamp, side, level)) * (1 + 0.25 * level)
    lot = max(inst.lot_size, 1)
    if inst.is_derivative:
        lots = OPTION_LEVEL_LOTS if inst.is_option else FUTURE_LEVEL_LOTS
        return lot * max(1, round(lots * scale))
    return max(1, round(EQUITY_LEVEL_VALUE * scale / max(price, 1.0)))


def _orders(inst: Instrument, quantity: int, level: int, stamp: str, side: str) -> int:
    lots = quantity // max(inst.lot_size, 1)
    typical = 2 if inst.is_derivative else 40  # lots (shares) an order at that level carries, roughly
    return max(1, min(lots, round(lots / typical * (0.6 + 0.8 * _noise(inst.instrument_token, stamp, side,
                                                                         level, "orders")))))


def market_depth(inst: Instrument, moment: dt.datetime) -> Depth:
    """The book of `inst` at `moment` (an index has none: five empty levels a side)."""
    if inst.is_index:
        return Depth((EMPTY,) * LEVELS, (EMPTY,) * LEVELS)
    tick = inst.price_tick
    last = pricing.price_at(inst, moment)
    uptick = last >= pricing.price_at(inst, moment - _MINUTE)
    best_ask = last if uptick else pricing.round_tick(last + tick, tick)
    best_bid = pricing.round_tick(last - tick, tick) if uptick else last
    # Sizes change with the price path's minute mark, not each second: the same minute, the same book. In IST
    # whatever the datetime's zone (an order's time read back from the database is UTC): one instant, one book.
    minute = moment.astimezone(IST).replace(second=0, microsecond=0)
    stamp = f"{pricing.round_tick(last, tick)}|{minute.isoformat()}"
    asks, bids = [], []
    for level in range(LEVELS):
        ask = pricing.round_tick(best_ask + level * tick, tick)
        quantity = _level_quantity(inst, ask, level, stamp, "ask")
        asks.append(Level(Decimal(str(ask)), quantity, _orders(inst, quantity, level, stamp, "ask")))
        bid = pricing.round_tick(best_bid - level * tick, tick)
        if bid <= 0:
            bids.append(EMPTY)
            continue
        quantity = _level_quantity(inst, bid, level, stamp, "bid")
        bids.append(Level(Decimal(str(bid)), quantity, _orders(inst, quantity, level, stamp, "bid")))
    return Depth(tuple(bids), tuple(asks))


def walk(levels: tuple[Level, ...], quantity: int, *, buy: bool, limit: Decimal | None,
         skip: int = 0) -> list[tuple[Decimal, int]]:
    """The trades an order for `quantity` makes against `levels` (the opposite side, best first):
    level by level at each level's price, none beyond `limit` (a buy's highest price, a sell's
    lowest; None: no limit), and after the first `skip` units, which this order already took from
    this same book. [(price, quantity)], best price first; empty when nothing is in reach."""
    trades: list[tuple[Decimal, int]] = []
    for level in levels:
        if quantity <= 0:
            break
        if not level.quantity:
            continue
        if limit is not None and (level.price > limit if buy else level.price < limit):
            break
        available = level.quantity
        if skip:
            taken = min(skip, available)
            skip, available = skip - taken, available - taken
        if not available:
            continue
        units = min(available, quantity)
        trades.append((level.price, units))
        quantity -= units
    return trades


def passive_side(depth: Depth, transaction_type: str, last_price: Decimal, tick: float) -> tuple[Level, ...]:
    """What meets an order resting in the book when the market comes to it: the opposite levels'
    quantities from the last price on (a resting buy meets the sellers who traded at the last price
    and above it, tick by tick). So a resting order trades once the last price reaches its limit."""
    step = Decimal(str(tick))
    sign = 1 if transaction_type == "BUY" else -1
    return tuple(Level(last_price + sign * index * step, level.quantity, level.orders) if level.quantity else level
                 for index, level in enumerate(depth.side_for(transaction_type)))


def within_reach(levels: tuple[Level, ...], *, buy: bool, limit: Decimal) -> int:
    """How much of `levels` is priced at or better than `limit`."""
    return sum(level.quantity for level in levels
               if level.quantity and (level.price <= limit if buy else level.price >= limit))
