"""The shipped instrument universe: the NIFTY 500 stocks (listed on NSE and, most, BSE), the main
indices, the index F&O underlyings, and a few MCX and CDS futures.

The stocks are in `equities.csv` (next to this file; its header names the public sources of the
tokens, symbols and tick sizes): NSE symbol, Kite's name, ISIN, NSE exchange token, BSE scrip code,
tick size, base price (the level the deterministic walk wanders around, not a market price).
Derivatives are not listed: they are generated from the sandbox clock (see `sandbox.universe`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Equity:
    symbol: str
    name: str
    isin: str
    nse_token: int
    bse_code: int  # 0: not listed on BSE
    tick_size: float
    base_price: float
    nse_source: str  # kite (a real Kite token) or generated
    bse_source: str  # bse (BSE's scrip master), generated or none


def _load_equities() -> tuple[Equity, ...]:
    text = resources.files("sandbox").joinpath(EQUITIES_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(Equity(r["symbol"], r["name"], r["isin"], int(r["nse_token"]), int(r["bse_code"]),
                        float(r["tick_size"]), float(r["base_price"]), r["nse_source"], r["bse_source"])
                 for r in rows)


EQUITIES_FILE = "equities.csv"
EQUITIES: tuple[Equity, ...] = _load_equities()

# (exchange, tradingsymbol, exchange_token, instrument_token, base price, F&O underlying name or "")
# Tokens from Kite's NSE instruments dump named in equities.csv (SENSEX: Kite's 265).
INDICES: tuple[tuple[str, str, int, int, float, str], ...] = (
    ("NSE", "NIFTY 50", 1001, 256265, 24500.0, "NIFTY"),
    ("NSE", "NIFTY BANK", 1016, 260105, 52000.0, "BANKNIFTY"),
    ("NSE", "NIFTY FIN SERVICE", 1007, 257801, 24000.0, "FINNIFTY"),
    ("NSE", "NIFTY NEXT 50", 1058, 270857, 67000.0, ""),
    ("NSE", "NIFTY MID SELECT", 1125, 288009, 12800.0, ""),
    ("NSE", "NIFTY MIDCAP 100", 1003, 256777, 56000.0, ""),
    ("NSE", "NIFTY 100", 1018, 260617, 25000.0, ""),
    ("NSE", "NIFTY 500", 1047, 268041, 22500.0, ""),
    ("NSE", "NIFTY IT", 1015, 259849, 36000.0, ""),
    ("NSE", "NIFTY AUTO", 1029, 263433, 23500.0, ""),
    ("NSE", "NIFTY PHARMA", 1025, 262409, 21500.0, ""),
    ("NSE", "NIFTY FMCG", 1023, 261897, 55000.0, ""),
    ("NSE", "NIFTY METAL", 1030, 263689, 9300.0, ""),
    ("NSE", "INDIA VIX", 1035, 264969, 13.5, ""),
    ("BSE", "SENSEX", 1, 265, 80500.0, ""),
)

# F&O underlyings: name -> (index tradingsymbol, lot size, strike spacing, weekly options too)
# NIFTY has weekly and monthly option series; BANKNIFTY and FINNIFTY monthly only (NSE stopped their
# weeklies in November 2024). Lot sizes of NSE's December 2024 revision (FINNIFTY 65). The order
# matters: each underlying's position is part of its contracts' tokens (append, never reorder).
FNO_UNDERLYINGS: dict[str, tuple[str, int, int, bool]] = {
    "NIFTY": ("NIFTY 50", 75, 500, True),
    "BANKNIFTY": ("NIFTY BANK", 35, 1000, False),
    "FINNIFTY": ("NIFTY FIN SERVICE", 65, 500, False),
}

# NSE's quantity freeze limits for index derivatives (units per order; a larger order is rejected by
# the exchange, so Kite's autoslice splits it). Source: NSE circular of 31 October 2025, effective
# 3 November 2025 (NIFTY 1800, BANKNIFTY 600). Stocks have no freeze quantity in the sandbox.
# FINNIFTY: 1800 units (NSE's limit from its December 2024 revision; not re-checked against a later circular).
FREEZE_QUANTITIES: dict[str, int] = {"NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800}


@dataclass(frozen=True)
class Commodity:
    """An MCX or CDS future the sandbox lists, three monthly contracts at a time."""

    exchange: str
    lot_size: int  # units per lot; the sandbox counts order quantity in units (Kite counts MCX and CDS in lots)
    tick_size: float
    base_price: float
    # > 0: expiry on that day of the month (the weekday on or before it); <= 0: -N weekdays before the
    # month's last weekday (currency futures: two working days before the last business day).
    expiry_day: int
    freeze_quantity: int = 0


# Simplified expiry rules (MCX's own calendar moves a day or two around holidays); lot sizes as MCX
# and NSE currency specify them: CRUDEOIL 100 barrels, NATURALGAS 1250 mmBtu, GOLDM 10 (x 10 g),
# SILVERM 5 kg, USDINR/EURINR 1000 units of currency per lot (tick 0.0025). The order matters (tokens).
COMMODITIES: dict[str, Commodity] = {
    "CRUDEOIL": Commodity("MCX", 100, 1.0, 5800.0, 19),
    "NATURALGAS": Commodity("MCX", 1250, 0.1, 290.0, 25),
    "GOLDM": Commodity("MCX", 10, 1.0, 76000.0, 5),
    "SILVERM": Commodity("MCX", 5, 1.0, 90000.0, 28),
    "USDINR": Commodity("CDS", 1000, 0.0025, 84.5, -2),
    "EURINR": Commodity("CDS", 1000, 0.0025, 91.0, -2),
}

# A newcomer's portfolio: (exchange, tradingsymbol, quantity), bought at past prices.
DEFAULT_HOLDINGS: tuple[tuple[str, str, int], ...] = (
    ("NSE", "INFY", 10),
    ("NSE", "RELIANCE", 12),
    ("NSE", "HDFCBANK", 8),
    ("NSE", "TCS", 4),
    ("NSE", "ITC", 60),
    ("BSE", "SBIN", 20),
)
DEFAULT_STARTING_CASH = 1_000_000
