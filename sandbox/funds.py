"""The mutual fund schemes the sandbox offers (`/mf/instruments`) and their deterministic NAVs.

A small list of real schemes (Direct Plan, Growth option), each by its ISIN as AMFI lists it (Kite's
`tradingsymbol` for a fund). The NAVs are the sandbox's own, like its stock prices: a function of the
scheme and the date alone, the same in every process. A NAV is struck once per business day (Mon-Fri,
as the sandbox keeps no holiday calendar); on other days the last one stands. Liquid and debt funds
accrue smoothly; equity funds wander around a slow upward drift.

Pure: no database.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sandbox.clock import is_trading_day, last_trading_day_on_or_before, previous_trading_day

SEED = "kite-sandbox/mf/1"
ANCHOR = dt.date(2026, 1, 1)  # the day each scheme's NAV is near its base
NAV_PLACES = Decimal("0.0001")
CSV_HEADER = ["tradingsymbol", "amc", "name", "purchase_allowed", "redemption_allowed", "minimum_purchase_amount",
              "purchase_amount_multiplier", "minimum_additional_purchase_amount", "minimum_redemption_quantity",
              "redemption_quantity_multiplier", "dividend_type", "scheme_type", "plan", "settlement_type",
              "last_price", "last_price_date"]


@dataclass(frozen=True)
class Scheme:
    isin: str
    amc: str
    name: str
    scheme_type: str  # equity | debt | elss | hybrid | fof (Kite's `scheme_type`; liquid funds are debt)
    base_nav: float
    annual_return: float
    minimum_purchase: Decimal = Decimal("100")
    minimum_additional: Decimal = Decimal("100")
    settlement_type: str = "T2"

    @property
    def smooth(self) -> bool:
        """Debt funds accrue day by day; they do not wander like equity."""
        return self.scheme_type == "debt"


def _s(isin: str, amc: str, name: str, kind: str, base: float, annual: float, minimum: int = 100,
       settlement: str = "T2") -> Scheme:
    return Scheme(isin, amc, name, kind, base, annual, Decimal(minimum), Decimal(minimum), settlement)


SCHEMES: tuple[Scheme, ...] = (
    # index funds
    _s("INF789F01XA0", "UTIMutualFund_MF", "UTI Nifty 50 Index Fund - Direct Plan", "equity", 170.0, 0.11),
    _s("INF789FC12T1", "UTIMutualFund_MF", "UTI Nifty Next 50 Index Fund - Direct Plan", "equity", 25.0, 0.12),
    _s("INF109KC1U50", "ICICIPrudentialMutualFund_MF", "ICICI Prudential NASDAQ 100 Index Fund - Direct Plan",
       "equity", 20.0, 0.13),
    _s("INF0R8F01026", "ZerodhaMutualFund_MF", "Zerodha ELSS Tax Saver Nifty LargeMidcap 250 Index Fund - "
       "Direct Plan", "elss", 15.0, 0.12, 500),
    _s("INF247L01AS4", "MotilalOswalMutualFund_MF", "Motilal Oswal Nasdaq 100 Fund of Fund - Direct Plan", "fof",
       41.0, 0.13, 500),
    # flexi cap, large cap, mid cap, small cap
    _s("INF879O01027", "PPFASMutualFund_MF", "Parag Parikh Flexi Cap Fund - Direct Plan", "equity", 90.0, 0.13,
       1000),
    _s("INF179K01UT0", "HDFCMutualFund_MF", "HDFC Flexi Cap Fund - Direct Plan", "equity", 2200.0, 0.13),
    _s("INF174K01LS2", "KotakMahindraMutualFund_MF", "Kotak Flexicap Fund - Direct Plan", "equity", 85.0, 0.12),
    _s("INF769K01AX2", "MiraeAssetMutualFund_MF", "Mirae Asset Large Cap Fund - Direct Plan", "equity", 120.0,
       0.11),
    _s("INF846K01DP8", "AxisMutualFund_MF", "Axis Large Cap Fund - Direct Plan", "equity", 65.0, 0.10),
    _s("INF109K016L0", "ICICIPrudentialMutualFund_MF", "ICICI Prudential Large Cap Fund - Direct Plan", "equity",
       115.0, 0.12),
    _s("INF247L01445", "MotilalOswalMutualFund_MF", "Motilal Oswal Midcap Fund - Direct Plan", "equity", 110.0,
       0.15, 500),
    _s("INF204K01E54", "NipponIndiaMutualFund_MF", "Nippon India Growth Mid Cap Fund - Direct Plan", "equity",
       4300.0, 0.14),
    _s("INF204K01K15", "NipponIndiaMutualFund_MF", "Nippon India Small Cap Fund - Direct Plan", "equity", 190.0,
       0.16),
    _s("INF966L01689", "QuantMutualFund_MF", "quant Small Cap Fund - Direct Plan", "equity", 290.0, 0.16, 1000),
    _s("INF846K01K35", "AxisMutualFund_MF", "Axis Small Cap Fund - Direct Plan", "equity", 115.0, 0.15),
    # tax saving (ELSS: units locked for three years on Kite; the sandbox does not lock them)
    _s("INF769K01DM9", "MiraeAssetMutualFund_MF", "Mirae Asset ELSS Tax Saver Fund - Direct Plan", "elss", 50.0,
       0.12, 500),
    _s("INF846K01EW2", "AxisMutualFund_MF", "Axis ELSS Tax Saver Fund - Direct Plan", "elss", 100.0, 0.10, 500),
    # hybrid and debt
    _s("INF879O01175", "PPFASMutualFund_MF", "Parag Parikh Conservative Hybrid Fund - Direct Plan", "hybrid",
       15.0, 0.09, 1000),
    _s("INF179K01YM7", "HDFCMutualFund_MF", "HDFC Short Term Debt Fund - Direct Plan", "debt", 33.0, 0.075),
    # liquid funds
    _s("INF179KB1HP9", "HDFCMutualFund_MF", "HDFC Liquid Fund - Direct Plan", "debt", 5100.0, 0.067, 100, "T1"),
    _s("INF109K01VQ1", "ICICIPrudentialMutualFund_MF", "ICICI Prudential Liquid Fund - Direct Plan", "debt",
       390.0, 0.067, 100, "T1"),
    _s("INF209K01VA3", "BirlaSunLifeMutualFund_MF", "Aditya Birla Sun Life Liquid Fund - Direct Plan", "debt",
       430.0, 0.068, 100, "T1"),
    _s("INF846K01CX4", "AxisMutualFund_MF", "Axis Liquid Fund - Direct Plan", "debt", 2950.0, 0.068, 500, "T1"),
    _s("INF579M01AB3", "360ONEMutualFund_MF", "360 ONE Liquid Fund - Direct Plan", "debt", 2000.0, 0.066, 500,
       "T1"),
)
SCHEMES_BY_ISIN: dict[str, Scheme] = {s.isin: s for s in SCHEMES}


def scheme_by_isin(isin: str) -> Scheme | None:
    return SCHEMES_BY_ISIN.get((isin or "").strip().upper())


def _seed_int(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, (SEED, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=8192)
def _nav_on_business_day(isin: str, ordinal: int) -> Decimal:
    scheme = SCHEMES_BY_ISIN[isin]
    years = (ordinal - ANCHOR.toordinal()) / 365.0
    log_nav = math.log(scheme.base_nav) + math.log1p(scheme.annual_return) * years
    if not scheme.smooth:
        rng = random.Random(_seed_int("phase", isin))
        waves = sum(amp * math.sin(2 * math.pi * ordinal / period + rng.uniform(0, 2 * math.pi))
                    for period, amp in ((29.0, 0.012), (97.0, 0.03), (331.0, 0.05)))
        shock = random.Random(_seed_int("day", isin, ordinal)).gauss(0.0, 1.0)
        log_nav += waves + 0.004 * shock
    return Decimal(repr(math.exp(log_nav))).quantize(NAV_PLACES)


def nav_on(scheme: Scheme, day: dt.date) -> Decimal:
    """The NAV struck for `day` (a business day), or the last one before a day without one."""
    return _nav_on_business_day(scheme.isin, last_trading_day_on_or_before(day).toordinal())


def latest_nav(scheme: Scheme, today: dt.date) -> tuple[Decimal, dt.date]:
    """The last NAV published by `today`: the previous business day's (today's is struck tonight)."""
    day = previous_trading_day(today)
    return nav_on(scheme, day), day


def next_business_day(day: dt.date) -> dt.date:
    """The business day after `day`: an order placed on `day` is allotted at that day's NAV."""
    day += dt.timedelta(days=1)
    while not is_trading_day(day):
        day += dt.timedelta(days=1)
    return day


def instruments_rows(today: dt.date) -> list[list[str]]:
    """The `/mf/instruments` CSV rows (after the header) as they read on `today`."""
    rows = []
    for s in SCHEMES:
        nav, day = latest_nav(s, today)
        rows.append([s.isin, s.amc, s.name, "1", "1", f"{s.minimum_purchase:.1f}", "1.0",
                     f"{s.minimum_additional:.1f}", "0.001", "0.001", "growth", s.scheme_type, "direct",
                     s.settlement_type, f"{nav}", day.isoformat()])
    return rows
