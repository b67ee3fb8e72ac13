"""Deterministic prices: same seed and clock, same prices, in every process.

Each stock and index has a daily close that wanders around its base price (a few slow waves and
a daily shock: stationary, so prices stay realistic at any date), and an intraday minute path for
each session (09:15-15:30) from the open to that close. Index futures and options are priced from
their index (cost of carry; Black-Scholes); MCX and CDS futures walk on their own, like a stock.
`POST /sandbox/prices` shifts an instrument from an instant on, on top of the walk (`PriceShift`).

Outside the session prices stand still at the last close, unless the market is kept always open
(KITE_SANDBOX_MARKET_ALWAYS_OPEN): then they keep moving at any hour, still a function of the clock
alone (`_always_open_point`). A weekday's off hours walk its own session path, folded: from the open
at 00:00 into the morning's prices and back to the open at 09:15, and from the close at 15:30 back
into the afternoon's and forward to the close at midnight; so every price of the day lies within its
session's range (the day's candles and quote agree) and the day still settles at its close. A
weekend day has a path of its own, from the last close around it and back, 00:00 to 24:00. Each
calendar day keeps its previous close (the last session's close): what the day change is taken from.
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import random
import threading
from array import array
from dataclasses import dataclass
from functools import lru_cache

from sandbox.clock import (
    IST,
    SESSION_MINUTES,
    at,
    is_trading_day,
    last_trading_day_on_or_before,
    previous_trading_day,
    session_close,
    session_open,
)
from sandbox.conf import market_always_open
from sandbox.universe import Instrument, instrument_by_token

SEED = "kite-sandbox/1"
_WAVES = ((23.0, 0.02), (67.0, 0.05), (199.0, 0.09), (617.0, 0.12))
_DAILY_SHOCK = 0.009
_INTRADAY = 0.006
_RATE = 0.07
_VOLATILITY = {"NIFTY": 0.14, "BANKNIFTY": 0.17, "FINNIFTY": 0.15}
DAY_MINUTES = 24 * 60
_MINUTE = dt.timedelta(minutes=1)
_MIDNIGHT = dt.time(0, 0)


def _bridge_table(minutes: int) -> tuple[tuple[float, ...], ...]:
    """sin(pi j m / minutes) for j = 1..5 and m = 0..minutes: shapes that vanish at both ends."""
    return tuple(tuple(math.sin(math.pi * j * m / minutes) for m in range(minutes + 1)) for j in range(1, 6))


_BRIDGE = _bridge_table(SESSION_MINUTES)
_DAY_BRIDGE = _bridge_table(DAY_MINUTES)


def round_tick(value: float, tick: float = 0.05) -> float:
    tick = tick or 0.05
    return round(round(value / tick) * tick, 2)


def _seed_int(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, (SEED, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=1024)
def _phases(seed: int) -> tuple[float, ...]:
    rng = random.Random(_seed_int("phase", seed))
    return tuple(rng.uniform(0, 2 * math.pi) for _ in _WAVES)


def _scale(inst: Instrument) -> float:
    return 0.6 if inst.is_index else 1.0  # indices move less than single stocks


@lru_cache(maxsize=65536)
def _raw_close(seed: int, base: float, scale: float, ordinal: int) -> float:
    phases = _phases(seed)
    x = sum(amp * math.sin(2 * math.pi * ordinal / period + phase)
            for (period, amp), phase in zip(_WAVES, phases, strict=True))
    shock = random.Random(_seed_int("close", seed, ordinal)).gauss(0.0, 1.0)
    return base * math.exp(scale * (x + _DAILY_SHOCK * shock))


@dataclass(frozen=True)
class DayPath:
    """Unshifted, unrounded prices at each minute mark 0..375 of one session, with the volume and
    turnover traded up to each mark (compact arrays: many days are cached)."""

    prices: array
    volume: array
    turnover: array


def _finish_path(prices: list[float], minute_volumes: list[int]) -> DayPath:
    volume, turnover = [0], [0.0]
    for m in range(1, len(prices)):
        volume.append(volume[-1] + minute_volumes[m - 1])
        turnover.append(turnover[-1] + minute_volumes[m - 1] * (prices[m - 1] + prices[m]) / 2)
    return DayPath(array("d", prices), array("q", volume), array("d", turnover))


@lru_cache(maxsize=2048)
def _base_path(seed: int, base: float, scale: float, is_index: bool, ordinal: int) -> DayPath:
    day = dt.date.fromordinal(ordinal)
    previous = previous_trading_day(day).toordinal()
    rng = random.Random(_seed_int("path", seed, ordinal))
    log_open = math.log(_raw_close(seed, base, scale, previous)) + 0.003 * scale * rng.gauss(0.0, 1.0)
    log_close = math.log(_raw_close(seed, base, scale, ordinal))
    coefficients = [rng.gauss(0.0, 1.0) / j * _INTRADAY * scale for j in range(1, 6)]
    per_minute = 0.0 if is_index else 1.5e7 / base * (0.5 + rng.random())
    prices, volumes = [], []
    for m in range(SESSION_MINUTES + 1):
        x = m / SESSION_MINUTES
        bridge = sum(c * table[m] for c, table in zip(coefficients, _BRIDGE, strict=False))
        jitter = 0.0007 * scale * rng.gauss(0.0, 1.0) * _BRIDGE[0][m]
        prices.append(math.exp(log_open + (log_close - log_open) * x + bridge + jitter))
        # U-shaped intraday volume: busy at the open and the close.
        profile = 0.6 + 1.6 * (x - 0.5) ** 2 * 4
        volumes.append(int(per_minute * profile * (0.6 + 0.8 * rng.random())))
    return _finish_path(prices, volumes)


@lru_cache(maxsize=512)
def _weekend_path(seed: int, base: float, scale: float, is_index: bool, ordinal: int) -> DayPath:
    """A day without a session (priced only when the market is kept always open): minute marks 0..1440
    from 00:00, leaving the last close and coming back to it at midnight, so the next session still
    opens from that close and its day change is unchanged."""
    day = dt.date.fromordinal(ordinal)
    rng = random.Random(_seed_int("weekend", seed, ordinal))
    level = math.log(_raw_close(seed, base, scale, previous_trading_day(day).toordinal()))
    coefficients = [rng.gauss(0.0, 1.0) / j * _INTRADAY * scale for j in range(1, 6)]
    per_minute = 0.0 if is_index else 0.2 * 1.5e7 / base * (0.5 + rng.random())  # a quiet market
    prices, volumes = [], []
    for m in range(DAY_MINUTES + 1):
        bridge = sum(c * table[m] for c, table in zip(coefficients, _DAY_BRIDGE, strict=False))
        jitter = 0.0007 * scale * rng.gauss(0.0, 1.0) * _DAY_BRIDGE[0][m]
        prices.append(math.exp(level + bridge + jitter))
        volumes.append(int(per_minute * (0.6 + 0.8 * rng.random())))
    return _finish_path(prices, volumes)


def _path_start(day: dt.date) -> dt.datetime:
    """The instant of a day path's minute mark 0: the session open, or 00:00 on a day without one."""
    return session_open(day) if is_trading_day(day) else at(day, _MIDNIGHT)


def _path_minutes(day: dt.date) -> int:
    return SESSION_MINUTES if is_trading_day(day) else DAY_MINUTES


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(kind: str, spot: float, strike: float, years: float, volatility: float,
                  rate: float = _RATE) -> float:
    if years <= 0 or spot <= 0:
        return max(0.0, spot - strike) if kind == "CE" else max(0.0, strike - spot)
    sd = volatility * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + volatility**2 / 2) * years) / sd
    d2 = d1 - sd
    discount = strike * math.exp(-rate * years)
    if kind == "CE":
        return spot * _norm_cdf(d1) - discount * _norm_cdf(d2)
    return discount * _norm_cdf(-d2) - spot * _norm_cdf(-d1)


def _years_to_expiry(inst: Instrument, moment: dt.datetime) -> float:
    assert inst.expiry is not None
    return max(0.0, (session_close(inst.expiry) - moment).total_seconds() / (365 * 86400))


def _derived(inst: Instrument, spot: float, moment: dt.datetime) -> float:
    years = _years_to_expiry(inst, moment)
    if inst.is_future:
        return spot * (1 + _RATE * years)
    return black_scholes(inst.instrument_type, spot, inst.strike, years, _VOLATILITY.get(inst.name, 0.15))


def _underlying(inst: Instrument) -> Instrument:
    underlying = instrument_by_token(inst.underlying_token)
    assert underlying is not None
    return underlying


@lru_cache(maxsize=512)
def _derivative_path(token: int, ordinal: int) -> DayPath:
    inst = instrument_by_token(token)
    assert inst is not None and inst.expiry is not None
    day = dt.date.fromordinal(ordinal)
    spot = path(_underlying(inst), day)
    start = _path_start(day)
    prices = [_derived(inst, s, start + m * _MINUTE) for m, s in enumerate(spot.prices)]
    lots = (20 if inst.is_future else 150) * inst.lot_size
    if not is_trading_day(day):
        lots //= 5  # a day-long path without a session: a quiet market
    rng = random.Random(_seed_int("volume", token, ordinal))
    volumes = [inst.lot_size * int(lots / inst.lot_size * (0.3 + 1.4 * rng.random())) for _ in prices]
    return _finish_path(prices, volumes)


def path(inst: Instrument, day: dt.date) -> DayPath:
    """The session path of `day` (a trading day), without shifts; for a day without a session, the
    day-long path that only an always-open market uses."""
    if inst.is_derived:
        return _derivative_path(inst.instrument_token, day.toordinal())
    make = _base_path if is_trading_day(day) else _weekend_path
    return make(inst.seed, inst.base_price, _scale(inst), inst.is_index, day.toordinal())


# --- shifts ---------------------------------------------------------------------------------------

class _Shifts:
    """Per-process copy of the PriceShift table, reloaded when the sandbox state's version moves."""

    def __init__(self) -> None:
        self.version = -1
        self.table: dict[int, tuple[list[dt.datetime], list[float]]] = {}
        self.lock = threading.Lock()

    def sync(self, version: int) -> None:
        if version == self.version:
            return
        from sandbox.models import PriceShift

        table: dict[int, tuple[list[dt.datetime], list[float]]] = {}
        for token, moment, factor in PriceShift.objects.order_by("at", "id").values_list(
                "instrument_token", "at", "factor"):
            times, factors = table.setdefault(token, ([], []))
            times.append(moment)
            factors.append((factors[-1] if factors else 1.0) * factor)
        with self.lock:
            self.table, self.version = table, version

    def factor(self, seed: int, moment: dt.datetime) -> float:
        entry = self.table.get(seed)
        if not entry:
            return 1.0
        index = bisect.bisect_right(entry[0], moment)
        return entry[1][index - 1] if index else 1.0

    def has(self, seed: int) -> bool:
        return seed in self.table


SHIFTS = _Shifts()


def shifts_sync(version: int) -> None:
    SHIFTS.sync(version)


def shifted(inst: Instrument) -> bool:
    """Whether a price shift applies to `inst` (its own, or its index's)."""
    return SHIFTS.has(inst.seed) or (inst.is_derived and SHIFTS.has(_underlying(inst).seed))


def _spot_factor(inst: Instrument, moment: dt.datetime) -> float:
    return SHIFTS.factor(inst.seed, moment)


# --- prices at an instant -------------------------------------------------------------------------

def _session_point(moment: dt.datetime) -> tuple[dt.date, int]:
    """The session (trading day) and minute mark whose price is current at `moment`."""
    local = moment.astimezone(IST)
    day = local.date()
    if is_trading_day(day):
        if local >= session_open(day):
            return day, min(SESSION_MINUTES, int((local - session_open(day)).total_seconds() // 60))
        return previous_trading_day(day), SESSION_MINUTES
    return last_trading_day_on_or_before(day), SESSION_MINUTES


def _always_open_point(moment: dt.datetime) -> tuple[dt.date, int, int, dt.datetime]:
    """Where `moment` is on its calendar day's path when the market is kept always open.

    During a session, as ever. Before 09:15 the path is walked from the open into the morning and
    back, after 15:30 from the close back into the afternoon and forward again, a minute mark a
    minute, so prices are continuous at 09:15 and 15:30 and reach the close at midnight. Returns
    (day, minute mark, the highest mark the day's open/high/low/volume count, when it was current).
    """
    local = moment.astimezone(IST)
    day = local.date()
    midnight = at(day, _MIDNIGHT)
    since_midnight = (local - midnight).total_seconds() / 60
    if not is_trading_day(day):
        minute = min(int(since_midnight), DAY_MINUTES)
        return day, minute, minute, midnight + minute * _MINUTE
    opened, closed = session_open(day), session_close(day)
    if opened <= local <= closed:
        _, minute = _session_point(moment)
        return day, minute, minute, opened + minute * _MINUTE
    floored = local.replace(second=0, microsecond=0)
    if local < opened:
        to_open = (opened - local).total_seconds() / 60
        pre_market = (opened - midnight).total_seconds() / 60
        return day, int(min(since_midnight, to_open)), int(min(since_midnight, pre_market / 2)), floored
    to_midnight = (midnight + dt.timedelta(days=1) - local).total_seconds() / 60
    since_close = (local - closed).total_seconds() / 60
    return day, SESSION_MINUTES - int(min(since_close, to_midnight)), SESSION_MINUTES, floored


def _point(moment: dt.datetime) -> tuple[dt.date, int, int, dt.datetime]:
    """(day, minute mark whose price is current, the last mark of the day's range so far, its instant)."""
    if market_always_open():
        return _always_open_point(moment)
    day, minute = _session_point(moment)
    return day, minute, minute, session_open(day) + minute * _MINUTE


def session_values(inst: Instrument, day: dt.date, first: int, last: int) -> list[float]:
    """Rounded prices at minute marks first..last of `day` (shifts applied as they were in force)."""
    tick = inst.price_tick
    if not inst.is_derived and not SHIFTS.has(inst.seed):
        return [round_tick(v, tick) for v in path(inst, day).prices[first:last + 1]]
    start = _path_start(day)
    floor = tick if inst.is_option else 0.0
    return [max(round_tick(_raw_value(inst, day, m, start + m * _MINUTE), tick), floor)
            for m in range(first, last + 1)]


def _raw_value(inst: Instrument, day: dt.date, minute: int, moment: dt.datetime) -> float:
    """Price at a minute mark with the shifts in force at `moment` (for derivatives, the index's too)."""
    if inst.is_derived:
        assert inst.expiry is not None
        underlying = _underlying(inst)
        spot = path(underlying, day).prices[minute] * _spot_factor(underlying, moment)
        mark = _path_start(day) + minute * _MINUTE
        value = _derived(inst, spot, min(mark, session_close(inst.expiry)))
    else:
        value = path(inst, day).prices[minute]
    return value * _spot_factor(inst, moment)


def price_at(inst: Instrument, moment: dt.datetime) -> float:
    """The last traded price at `moment`, rounded to the tick (derivatives settle at expiry)."""
    if inst.expiry and moment > session_close(inst.expiry):
        moment = session_close(inst.expiry)
    day, minute, _, _ = _point(moment)
    value = _raw_value(inst, day, minute, moment)
    return max(round_tick(value, inst.price_tick), inst.price_tick if inst.is_option else 0.0)


def previous_close(inst: Instrument, day: dt.date) -> float:
    """The close of the last session before `day` (Kite's `ohlc.close`)."""
    previous = previous_trading_day(day)
    if inst.expiry and previous > inst.expiry:
        previous = inst.expiry
    close = session_close(previous)
    return max(round_tick(_raw_value(inst, previous, SESSION_MINUTES, close), inst.price_tick),
               inst.price_tick if inst.is_option else 0.0)


def closing_price(inst: Instrument, day: dt.date) -> float:
    """The close of the session `day` (or of the last session before it)."""
    return price_at(inst, session_close(last_trading_day_on_or_before(day)))


@dataclass(frozen=True)
class Snapshot:
    """What a quote shows at an instant."""

    last_price: float
    last_trade_time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    average_price: float


def snapshot(inst: Instrument, moment: dt.datetime) -> Snapshot:
    if inst.expiry and moment > session_close(inst.expiry) and market_always_open():
        moment = session_close(inst.expiry)  # an expired contract's quote stays as it settled
    day, minute, seen, traded = _point(moment)
    if inst.expiry and day > inst.expiry:
        day, minute, seen = inst.expiry, SESSION_MINUTES, SESSION_MINUTES
        traded = session_close(day)
    start = _path_start(day)
    tick = inst.price_tick
    last = price_at(inst, moment)
    shifted = SHIFTS.has(inst.seed) or (inst.is_derived and SHIFTS.has(_underlying(inst).seed))
    if shifted:
        values = [_raw_value(inst, day, m, start + m * _MINUTE) for m in range(seen + 1)]
        if minute and minute == seen:
            values[-1] = last
        high, low, open_ = max(values), min(values), values[0]
    else:  # unshifted: the cached path (for a derivative, the same values as `_raw_value`'s)
        values = list(path(inst, day).prices[:seen + 1])
        if inst.is_derived and minute and minute == seen:
            values[-1] = last
        high, low, open_ = max(values), min(values), values[0]
    p = path(inst, day)
    volume = p.volume[seen]
    average = p.turnover[seen] / volume if volume else 0.0
    return Snapshot(
        last_price=last,
        last_trade_time=min(moment, traded),
        open=round_tick(open_, tick),
        high=max(round_tick(high, tick), last),
        low=min(round_tick(low, tick), last),
        close=previous_close(inst, day),
        volume=volume,
        average_price=round(average * _spot_factor(inst, moment), 2) if volume else 0.0,
    )


def open_interest(inst: Instrument, moment: dt.datetime) -> int:
    if not inst.is_derivative:
        return 0
    day, minute, _, _ = _point(moment)
    phase = _phases(inst.instrument_token)[0]
    lots = (4000 if inst.is_future else 20000) * (1 + 0.15 * math.sin(day.toordinal() / 7 + phase))
    return int(lots * (1 + 0.02 * minute / _path_minutes(day))) * inst.lot_size


def minute_marks(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every session minute mark in (start, end], in order (for checking open orders)."""
    out: list[dt.datetime] = []
    day = start.astimezone(IST).date()
    last_day = end.astimezone(IST).date()
    while day <= last_day:
        if is_trading_day(day):
            first = session_open(day)
            for m in range(SESSION_MINUTES + 1):
                mark = first + m * _MINUTE
                if start < mark <= end:
                    out.append(mark)
                elif mark > end:
                    break
        day += dt.timedelta(days=1)
    return out
