"""Deterministic prices: same seed and clock, same prices, in every process.

Each stock and index has a daily close that wanders around its base price (a few slow waves and
a daily shock: stationary, so prices stay realistic at any date), and an intraday minute path for
each session (09:15-15:30) from the open to that close. Futures and options are priced from their
index (cost of carry; Black-Scholes). `POST /sandbox/prices` shifts an instrument from an instant on,
on top of the walk (`PriceShift`).
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
    is_trading_day,
    last_trading_day_on_or_before,
    previous_trading_day,
    session_close,
    session_open,
)
from sandbox.universe import Instrument, instrument_by_token

SEED = "kite-sandbox/1"
_WAVES = ((23.0, 0.02), (67.0, 0.05), (199.0, 0.09), (617.0, 0.12))
_DAILY_SHOCK = 0.009
_INTRADAY = 0.006
_RATE = 0.07
_VOLATILITY = {"NIFTY": 0.14, "BANKNIFTY": 0.17}
_BRIDGE = tuple(tuple(math.sin(math.pi * j * m / SESSION_MINUTES) for m in range(SESSION_MINUTES + 1))
                for j in range(1, 6))
_MINUTE = dt.timedelta(minutes=1)


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
    start = session_open(day)
    prices = [_derived(inst, s, start + m * _MINUTE) for m, s in enumerate(spot.prices)]
    lots = (20 if inst.is_future else 150) * inst.lot_size
    rng = random.Random(_seed_int("volume", token, ordinal))
    volumes = [inst.lot_size * int(lots / inst.lot_size * (0.3 + 1.4 * rng.random())) for _ in prices]
    return _finish_path(prices, volumes)


def path(inst: Instrument, day: dt.date) -> DayPath:
    """The session path of `day` (a trading day), without shifts."""
    if inst.is_derivative:
        return _derivative_path(inst.instrument_token, day.toordinal())
    return _base_path(inst.seed, inst.base_price, _scale(inst), inst.is_index, day.toordinal())


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


def session_values(inst: Instrument, day: dt.date, first: int, last: int) -> list[float]:
    """Rounded prices at minute marks first..last of `day` (shifts applied as they were in force)."""
    tick = inst.price_tick
    if not inst.is_derivative and not SHIFTS.has(inst.seed):
        return [round_tick(v, tick) for v in path(inst, day).prices[first:last + 1]]
    start = session_open(day)
    floor = tick if inst.is_option else 0.0
    return [max(round_tick(_raw_value(inst, day, m, start + m * _MINUTE), tick), floor)
            for m in range(first, last + 1)]


def _raw_value(inst: Instrument, day: dt.date, minute: int, moment: dt.datetime) -> float:
    """Price at a minute mark with the shifts in force at `moment` (for derivatives, the index's too)."""
    if inst.is_derivative:
        assert inst.expiry is not None
        underlying = _underlying(inst)
        spot = path(underlying, day).prices[minute] * _spot_factor(underlying, moment)
        mark = session_open(day) + minute * _MINUTE
        value = _derived(inst, spot, min(mark, session_close(inst.expiry)))
    else:
        value = path(inst, day).prices[minute]
    return value * _spot_factor(inst, moment)


def price_at(inst: Instrument, moment: dt.datetime) -> float:
    """The last traded price at `moment`, rounded to the tick (derivatives settle at expiry)."""
    if inst.expiry and moment > session_close(inst.expiry):
        moment = session_close(inst.expiry)
    day, minute = _session_point(moment)
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
    day, minute = _session_point(moment)
    if inst.expiry and day > inst.expiry:
        day, minute = inst.expiry, SESSION_MINUTES
    start = session_open(day)
    tick = inst.price_tick
    last = price_at(inst, moment)
    if inst.is_derivative or SHIFTS.has(inst.seed):
        values = [_raw_value(inst, day, m, start + m * _MINUTE) for m in range(minute + 1)]
        if minute:
            values[-1] = last
        high, low, open_ = max(values), min(values), values[0]
    else:
        values = path(inst, day).prices[:minute + 1]
        high, low, open_ = max(values), min(values), values[0]
    p = path(inst, day)
    volume = p.volume[minute]
    average = p.turnover[minute] / volume if volume else 0.0
    return Snapshot(
        last_price=last,
        last_trade_time=min(moment, start + minute * _MINUTE),
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
    day, minute = _session_point(moment)
    phase = _phases(inst.instrument_token)[0]
    lots = (4000 if inst.is_future else 20000) * (1 + 0.15 * math.sin(day.toordinal() / 7 + phase))
    return int(lots * (1 + 0.02 * minute / SESSION_MINUTES)) * inst.lot_size


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
