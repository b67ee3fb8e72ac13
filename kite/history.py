"""History, the pure part: reading Kite's times and numbers, telling one order state from another, and
realised P&L per day from trades. No database, no Kite (the services and selectors use these).

Realised P&L is worked out FIFO per instrument (exchange and trading symbol, whatever the product): a sale
is matched against the oldest purchases still open, a purchase against the oldest open short sales
(intraday MIS/NRML shorts), and the difference in price times the matched quantity is realised on the day
of the closing trade. Charges (brokerage, STT, ...) are not deducted. A CNC sale with no recorded purchase
before it (shares bought before Kite Desk kept history) is matched at Kite's average price from the latest
holdings snapshot before that day when there is one; otherwise its quantity is reported as `unmatched` and
that day's figure is marked incomplete, never guessed.
"""
from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kite.ist import IST

KITE_TIME = "%Y-%m-%d %H:%M:%S"
CENT = Decimal("0.01")


def kite_time(value: Any) -> datetime | None:
    """Kite's "yyyy-mm-dd hh:mm:ss" (IST, no zone), or an ISO time, as an aware datetime; None if absent or
    unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=IST)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.strptime(text, KITE_TIME)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=IST)


def number(value: Any) -> Decimal | None:
    """A Kite number as a Decimal (None when absent or not a number). Floats go through their repr, so
    1412.95 stays 1412.95."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


# What makes one state of an order: the same values from a postback, the ticker or the order book are the
# same state, stored once.
_STATE_FIELDS = ("order_id", "status", "quantity", "filled_quantity", "pending_quantity", "cancelled_quantity",
                 "price", "trigger_price", "average_price", "order_timestamp", "exchange_update_timestamp")


def _state_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        found = number(value)
        return format(found.normalize(), "f") if found is not None else str(value)  # 470 == 470.0
    if isinstance(value, datetime):
        return value.strftime(KITE_TIME)
    return str(value)


def order_fingerprint(order: dict[str, Any]) -> str:
    state = [_state_value(order.get(k)) for k in _STATE_FIELDS]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def postback_checksum(*, order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: SHA-256 (hex) of order_id + order_timestamp + api_secret, concatenated as
    sent (kite.trade/docs/connect/v3/postbacks)."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


# --- Realised P&L, FIFO -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fill:
    exchange: str
    tradingsymbol: str
    product: str
    transaction_type: str  # BUY or SELL
    quantity: Decimal
    price: Decimal
    day: date

    @property
    def key(self) -> tuple[str, str]:
        return (self.exchange, self.tradingsymbol)


@dataclass
class DayPnl:
    day: date
    realised: Decimal = Decimal(0)
    trades: int = 0
    bought: Decimal = Decimal(0)  # turnover, rupees
    sold: Decimal = Decimal(0)
    unmatched: dict[str, Decimal] = field(default_factory=dict)  # "NSE:INFY" -> quantity sold without a cost

    @property
    def complete(self) -> bool:
        return not self.unmatched


def realised_by_day(fills: Iterable[Fill], *, basis: Any = None) -> dict[date, DayPnl]:
    """Realised P&L per day of `fills` (oldest first), FIFO per instrument (see the module's docstring).

    `basis(exchange, tradingsymbol, day)` -> Kite's average price of the holding before `day`, or None: the
    cost of a CNC sale with no recorded purchase."""
    lots: dict[tuple[str, str], deque[list[Decimal]]] = {}  # open lots: [signed quantity, price]
    days: dict[date, DayPnl] = {}
    for fill in fills:
        pnl = days.setdefault(fill.day, DayPnl(day=fill.day))
        pnl.trades += 1
        buying = fill.transaction_type == "BUY"
        if buying:
            pnl.bought += fill.quantity * fill.price
        else:
            pnl.sold += fill.quantity * fill.price
        queue = lots.setdefault(fill.key, deque())
        left = fill.quantity
        # Close what is open the other way first.
        while left > 0 and queue and (queue[0][0] < 0) == buying:
            lot = queue[0]
            matched = min(left, abs(lot[0]))
            pnl.realised += (lot[1] - fill.price) * matched if buying else (fill.price - lot[1]) * matched
            lot[0] += matched if buying else -matched
            left -= matched
            if lot[0] == 0:
                queue.popleft()
        if left <= 0:
            continue
        if buying:
            queue.append([left, fill.price])
        elif fill.product == "CNC":
            cost = basis(fill.exchange, fill.tradingsymbol, fill.day) if basis is not None else None
            if cost is None:
                name = f"{fill.exchange}:{fill.tradingsymbol}"
                pnl.unmatched[name] = pnl.unmatched.get(name, Decimal(0)) + left
            else:
                pnl.realised += (fill.price - cost) * left
        else:
            queue.append([-left, fill.price])  # an intraday short, closed by a later purchase
    for pnl in days.values():
        pnl.realised = pnl.realised.quantize(CENT)
    return days


# --- Date ranges of the history tools and pages ----------------------------------------------------

MAX_RANGE_DAYS = 366


def parse_day(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a date, YYYY-MM-DD")
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"{name} must be a date, YYYY-MM-DD (got {value[:20]!r})") from None


def day_range(from_date: Any, to_date: Any) -> tuple[date, date]:
    """Two days, in order, at most MAX_RANGE_DAYS apart; a ValueError names what is wrong."""
    start, end = parse_day(from_date, "from_date"), parse_day(to_date, "to_date")
    if start > end:
        raise ValueError(f"from_date ({start}) is after to_date ({end})")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValueError(f"the range is {(end - start).days + 1} days; at most {MAX_RANGE_DAYS} at a time")
    return start, end
