"""The sandbox clock and market hours.

The clock lives in the database (one row) so every process and thread of the sandbox agrees on it:
frozen at an instant, or real time plus an offset. It drives prices, market hours, token expiry,
order timestamps and the trading day.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone

from sandbox.conf import market_always_open
from sandbox.models import SandboxState

IST = ZoneInfo("Asia/Kolkata")
MARKET_OPEN = dt.time(9, 15)
MARKET_CLOSE = dt.time(15, 30)
# Zerodha's intraday (MIS) auto square-off, "at or after": equity (cash) 15:20, equity and index
# derivatives 15:25, currency derivatives 16:45, commodities 25 minutes before their close (Zerodha
# support, "What are the auto square-off timings for open intraday positions?", support.zerodha.com,
# read 2026-11). The sandbox lists no currency or commodity instruments, so only the first two apply.
MIS_SQUARE_OFF = dt.time(15, 20)
FO_SQUARE_OFF = dt.time(15, 25)
SQUARE_OFF_BY_EXCHANGE = {"NSE": MIS_SQUARE_OFF, "BSE": MIS_SQUARE_OFF, "NFO": FO_SQUARE_OFF, "BFO": FO_SQUARE_OFF,
                          "CDS": dt.time(16, 45), "BCD": dt.time(16, 45)}


def square_off_time(exchange: str) -> dt.time:
    """When intraday (MIS) positions on `exchange` are squared off (and fresh MIS orders refused)."""
    return SQUARE_OFF_BY_EXCHANGE.get(exchange, MIS_SQUARE_OFF)
TOKEN_FLUSH = dt.time(6, 0)
SESSION_MINUTES = 375  # 09:15 to 15:30


@dataclass(frozen=True)
class ClockReading:
    now: dt.datetime
    frozen: bool
    shifts_version: int


def clock_read() -> ClockReading:
    """The sandbox's current time (aware, Asia/Kolkata) in one query."""
    row = SandboxState.objects.filter(pk=1).values_list("frozen_at", "offset_seconds", "shifts_version").first()
    if row is None:
        SandboxState.objects.get_or_create(pk=1)
        row = (None, 0.0, 0)
    frozen_at, offset, version = row
    if frozen_at is not None:
        return ClockReading(frozen_at.astimezone(IST), True, version)
    return ClockReading((timezone.now() + dt.timedelta(seconds=offset)).astimezone(IST), False, version)


def clock_now() -> dt.datetime:
    return clock_read().now


def clock_set(*, now: dt.datetime | None = None, advance_seconds: float | None = None,
              reset: bool = False) -> ClockReading:
    """Freeze the clock at `now`, move it by `advance_seconds`, or `reset` it to real time."""
    state, _ = SandboxState.objects.get_or_create(pk=1)
    if reset:
        state.frozen_at, state.offset_seconds = None, 0.0
    elif now is not None:
        state.frozen_at = now
    elif advance_seconds is not None:
        if state.frozen_at is not None:
            state.frozen_at += dt.timedelta(seconds=advance_seconds)
        else:
            state.offset_seconds += advance_seconds
    state.save(update_fields=["frozen_at", "offset_seconds"])
    return clock_read()


def is_trading_day(day: dt.date) -> bool:
    """Monday to Friday (the sandbox keeps no holiday calendar)."""
    return day.weekday() < 5


def at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=IST)


def session_open(day: dt.date) -> dt.datetime:
    return at(day, MARKET_OPEN)


def session_close(day: dt.date) -> dt.datetime:
    return at(day, MARKET_CLOSE)


def in_session(moment: dt.datetime) -> bool:
    """Within the exchange's regular session (Mon-Fri 09:15-15:30 IST)."""
    local = moment.astimezone(IST)
    return is_trading_day(local.date()) and MARKET_OPEN <= local.time() < MARKET_CLOSE


def is_market_open(moment: dt.datetime) -> bool:
    return market_always_open() or in_session(moment)


def previous_trading_day(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not is_trading_day(day):
        day -= dt.timedelta(days=1)
    return day


def last_trading_day_on_or_before(day: dt.date) -> dt.date:
    while not is_trading_day(day):
        day -= dt.timedelta(days=1)
    return day


def next_open_after(moment: dt.datetime) -> dt.datetime:
    """The next session open at or after `moment`."""
    local = moment.astimezone(IST)
    day = local.date()
    if is_trading_day(day) and local < session_open(day):
        return session_open(day)
    day += dt.timedelta(days=1)
    while not is_trading_day(day):
        day += dt.timedelta(days=1)
    return session_open(day)


def book_day(moment: dt.datetime) -> dt.date:
    """The calendar day (IST) whose order book and positions `moment` belongs to."""
    return moment.astimezone(IST).date()


def token_expiry(login_time: dt.datetime) -> dt.datetime:
    """Kite flushes every access token at 06:00 IST, so a session ends at the first 06:00 after its
    login: a 03:00 login at 06:00 that same morning, a 10:00 login at 06:00 the next day."""
    local = login_time.astimezone(IST)
    flush = at(local.date(), TOKEN_FLUSH)
    return flush if local < flush else at(local.date() + dt.timedelta(days=1), TOKEN_FLUSH)


def kite_timestamp(moment: dt.datetime | None) -> str | None:
    """`yyyy-mm-dd hh:mm:ss` in IST, the 19-character form pykiteconnect parses."""
    if moment is None:
        return None
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
