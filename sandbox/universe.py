"""The instrument universe, kept in memory: the NIFTY 500 stocks on NSE and BSE (`sandbox/equities.csv`,
Kite's real tokens and symbols, sources in its header), the main indices, NIFTY/BANKNIFTY/FINNIFTY
futures and options, and a few MCX and CDS futures, whose expiries are computed from the sandbox
clock's date (deterministic: the same day lists the same contracts in every process).

Tokens follow Kite's layout, instrument_token = exchange_token << 8 | segment id (NSE 1, NFO 2, CDS 3,
BSE 4, MCX 7, indices 9). Derivative tokens encode the contract (expiry, underlying, kind, strike),
so a contract that has expired since a position was opened is still known by its token; they stay
below 2**32, as the ticker's binary packets need.
"""
from __future__ import annotations

import calendar
import datetime as dt
import threading
from dataclasses import dataclass, field

from sandbox.data import COMMODITIES, EQUITIES, FNO_UNDERLYINGS, FREEZE_QUANTITIES, INDICES

NSE_SEGMENT, NFO_SEGMENT, CDS_SEGMENT, BSE_SEGMENT, MCX_SEGMENT, INDICES_SEGMENT = 1, 2, 3, 4, 7, 9
EXCHANGES = ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKLY_MONTH_CODES = "123456789OND"
_UNDERLYING_NAMES = tuple(FNO_UNDERLYINGS)
_KINDS = ("FUT", "CE", "PE")
STRIKES_EACH_SIDE = 9  # strikes base-9 steps .. base+9 steps (a fixed grid: contracts never vanish)
_DERIV_BASE = 1_000_000
# Underlyings after the first two (NIFTY, BANKNIFTY) encode in a block of their own, so adding one
# never renumbers the contracts the sandbox already listed (positions hold their tokens). The first
# block reaches 4,000,000 with expiries in 2042; every token stays below 2**31 (int32 clients).
_EXTRA_BASE, _EXTRA_FIRST = 4_000_000, 2
_COMMODITY_BASE = 1_000_000  # MCX and CDS futures: their own segments, their own numbering
_EPOCH_ORDINAL = 730_000  # 1999-09-20; expiries are encoded as days since


@dataclass(frozen=True)
class Instrument:
    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    exchange: str
    segment: str
    instrument_type: str
    tick_size: float
    lot_size: int
    isin: str = ""
    base_price: float = 0.0
    # Prices of the BSE listing follow the NSE one: both walk with the same seed.
    seed: int = 0
    expiry: dt.date | None = None
    strike: float = 0.0
    underlying_token: int = 0  # for derivatives: the index they are written on
    freeze_quantity: int = 0  # the most one order may carry (0: no limit); see data.FREEZE_QUANTITIES

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_index(self) -> bool:
        return self.segment == INDICES_SEGMENT_NAME

    @property
    def is_derivative(self) -> bool:
        return self.exchange in DERIVATIVE_EXCHANGES

    @property
    def is_derived(self) -> bool:
        """Priced from another instrument (an index's F&O); MCX and CDS futures walk on their own."""
        return self.underlying_token not in (0, self.instrument_token)

    @property
    def is_option(self) -> bool:
        return self.instrument_type in ("CE", "PE")

    @property
    def is_future(self) -> bool:
        return self.instrument_type == "FUT"

    @property
    def price_tick(self) -> float:
        return self.tick_size or 0.05

    @property
    def max_order_quantity(self) -> int:
        """The largest whole number of lots within the freeze quantity (0: no limit)."""
        if not self.freeze_quantity:
            return 0
        lot = max(self.lot_size, 1)
        return self.freeze_quantity // lot * lot


INDICES_SEGMENT_NAME = "INDICES"
DERIVATIVE_EXCHANGES = frozenset({"NFO", "MCX", "CDS"})


def _equities() -> list[Instrument]:
    out = []
    for e in EQUITIES:
        seed = e.nse_token * 256 + NSE_SEGMENT
        out.append(Instrument(seed, e.nse_token, e.symbol, e.name, "NSE", "NSE", "EQ", e.tick_size, 1, e.isin,
                              e.base_price, seed))
        if e.bse_code:
            out.append(Instrument(e.bse_code * 256 + BSE_SEGMENT, e.bse_code, e.symbol, e.name, "BSE", "BSE", "EQ",
                                  e.tick_size, 1, e.isin, e.base_price, seed))
    for exchange, symbol, exchange_token, token, base, _ in INDICES:
        out.append(Instrument(token, exchange_token, symbol, symbol, exchange, INDICES_SEGMENT_NAME, "EQ", 0.0, 0,
                              "", base, token))
    return out


STATIC: tuple[Instrument, ...] = tuple(_equities())
STATIC_BY_TOKEN: dict[int, Instrument] = {i.instrument_token: i for i in STATIC}
INDEX_BY_SYMBOL: dict[str, Instrument] = {i.tradingsymbol: i for i in STATIC if i.is_index}


# --- expiries -----------------------------------------------------------------------------------

def monthly_expiry(year: int, month: int) -> dt.date:
    """The last Tuesday of the month (NSE's index F&O expiry day)."""
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - 1) % 7)


def monthly_expiries(today: dt.date, count: int) -> list[dt.date]:
    out, year, month = [], today.year, today.month
    while len(out) < count:
        expiry = monthly_expiry(year, month)
        if expiry >= today:
            out.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def weekly_expiry(today: dt.date) -> dt.date:
    """The next Tuesday on or after today."""
    return today + dt.timedelta(days=(1 - today.weekday()) % 7)


def _is_monthly(expiry: dt.date) -> bool:
    return monthly_expiry(expiry.year, expiry.month) == expiry


def _strike_grid(underlying: str) -> list[float]:
    index_symbol, _, step, _ = FNO_UNDERLYINGS[underlying]
    base = INDEX_BY_SYMBOL[index_symbol].base_price
    centre = round(base / step) * step
    return [float(centre + k * step) for k in range(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)]


def derivative(underlying: str, expiry: dt.date, kind: str, strike_index: int = 0) -> Instrument:
    index_symbol, lot, _, _ = FNO_UNDERLYINGS[underlying]
    index = INDEX_BY_SYMBOL[index_symbol]
    u, k = _UNDERLYING_NAMES.index(underlying), _KINDS.index(kind)
    days = expiry.toordinal() - _EPOCH_ORDINAL
    if u < _EXTRA_FIRST:
        exchange_token = _DERIV_BASE + ((days * _EXTRA_FIRST + u) * 3 + k) * 32 + strike_index
    else:
        extra = len(_UNDERLYING_NAMES) - _EXTRA_FIRST
        exchange_token = _EXTRA_BASE + ((days * extra + u - _EXTRA_FIRST) * 3 + k) * 32 + strike_index
    yy = expiry.strftime("%y")
    if kind == "FUT":
        symbol, strike, segment = f"{underlying}{yy}{MONTHS[expiry.month - 1]}FUT", 0.0, "NFO-FUT"
    else:
        strike = _strike_grid(underlying)[strike_index]
        if _is_monthly(expiry):
            symbol = f"{underlying}{yy}{MONTHS[expiry.month - 1]}{int(strike)}{kind}"
        else:
            symbol = f"{underlying}{yy}{WEEKLY_MONTH_CODES[expiry.month - 1]}{expiry.day:02d}{int(strike)}{kind}"
        segment = "NFO-OPT"
    return Instrument(exchange_token * 256 + NFO_SEGMENT, exchange_token, symbol, underlying, "NFO", segment, kind,
                      0.05, lot, "", 0.0, exchange_token * 256 + NFO_SEGMENT, expiry, strike,
                      index.instrument_token, FREEZE_QUANTITIES.get(underlying, 0))


def decode_derivative(token: int) -> Instrument | None:
    if token & 0xFF != NFO_SEGMENT:
        return None
    exchange_token = token >> 8
    if exchange_token >= _EXTRA_BASE:
        code, first, count = exchange_token - _EXTRA_BASE, _EXTRA_FIRST, len(_UNDERLYING_NAMES) - _EXTRA_FIRST
    else:
        code, first, count = exchange_token - _DERIV_BASE, 0, _EXTRA_FIRST
    if code < 0 or count <= 0:
        return None
    strike_index, rest = code % 32, code // 32
    k, rest = rest % 3, rest // 3
    u, days = first + rest % count, rest // count
    if strike_index > 2 * STRIKES_EACH_SIDE or (k == 0 and strike_index):
        return None
    try:
        expiry = dt.date.fromordinal(days + _EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        return None
    underlying = _UNDERLYING_NAMES[u]
    if expiry.weekday() != 1 or (k == 0 and not _is_monthly(expiry)):
        return None
    return derivative(underlying, expiry, _KINDS[k], strike_index)


def _derivatives(today: dt.date) -> list[Instrument]:
    out: dict[int, Instrument] = {}
    strikes = range(2 * STRIKES_EACH_SIDE + 1)
    for underlying, (_, _, _, weekly) in FNO_UNDERLYINGS.items():
        months = monthly_expiries(today, 3)
        for expiry in months:
            inst = derivative(underlying, expiry, "FUT")
            out[inst.instrument_token] = inst
        option_expiries = {months[0]}
        if weekly:
            option_expiries.add(weekly_expiry(today))
        for expiry in sorted(option_expiries):
            for kind in ("CE", "PE"):
                for i in strikes:
                    inst = derivative(underlying, expiry, kind, i)
                    out[inst.instrument_token] = inst
    return list(out.values())


# --- MCX and CDS futures ---------------------------------------------------------------------------

_COMMODITY_NAMES = tuple(COMMODITIES)
_SEGMENT_IDS = {"MCX": MCX_SEGMENT, "CDS": CDS_SEGMENT}


def commodity_expiry(name: str, year: int, month: int) -> dt.date:
    """The contract month's expiry: the last weekday on or before the commodity's day of the month,
    or for currency futures two weekdays before the month's last weekday (see data.COMMODITIES)."""
    rule = COMMODITIES[name].expiry_day
    if rule > 0:
        day = dt.date(year, month, rule)
        while day.weekday() >= 5:
            day -= dt.timedelta(days=1)
        return day
    day = dt.date(year, month, calendar.monthrange(year, month)[1])
    weekdays = 0
    while True:
        if day.weekday() < 5:
            if weekdays == -rule:
                return day
            weekdays += 1
        day -= dt.timedelta(days=1)


def commodity_future(name: str, expiry: dt.date) -> Instrument:
    spec = COMMODITIES[name]
    c = _COMMODITY_NAMES.index(name)
    exchange_token = _COMMODITY_BASE + (expiry.toordinal() - _EPOCH_ORDINAL) * len(_COMMODITY_NAMES) + c
    token = exchange_token * 256 + _SEGMENT_IDS[spec.exchange]
    symbol = f"{name}{expiry.strftime('%y')}{MONTHS[expiry.month - 1]}FUT"
    # One seed a commodity: every month of it walks (and is shifted) together, around its own level.
    seed = (_COMMODITY_BASE - 1 - c) * 256 + _SEGMENT_IDS[spec.exchange]
    return Instrument(token, exchange_token, symbol, name, spec.exchange, f"{spec.exchange}-FUT", "FUT",
                      spec.tick_size, spec.lot_size, "", spec.base_price, seed, expiry, 0.0, token,
                      spec.freeze_quantity)


def decode_commodity(token: int) -> Instrument | None:
    segment, exchange_token = token & 0xFF, token >> 8
    code = exchange_token - _COMMODITY_BASE
    if segment not in (MCX_SEGMENT, CDS_SEGMENT) or code < 0 or not _COMMODITY_NAMES:
        return None
    name = _COMMODITY_NAMES[code % len(_COMMODITY_NAMES)]
    try:
        expiry = dt.date.fromordinal(code // len(_COMMODITY_NAMES) + _EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        return None
    if _SEGMENT_IDS[COMMODITIES[name].exchange] != segment or commodity_expiry(
            name, expiry.year, expiry.month) != expiry:
        return None
    return commodity_future(name, expiry)


def _commodity_futures(today: dt.date, months: int = 3) -> list[Instrument]:
    out = []
    for name in _COMMODITY_NAMES:
        year, month, listed = today.year, today.month, 0
        while listed < months:
            expiry = commodity_expiry(name, year, month)
            if expiry >= today:
                out.append(commodity_future(name, expiry))
                listed += 1
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@dataclass
class Universe:
    """Everything listed on one day."""

    day: dt.date
    instruments: list[Instrument]
    by_key: dict[str, Instrument] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {i.key: i for i in self.instruments}


_lock = threading.Lock()
_universes: dict[dt.date, Universe] = {}


def universe_for(day: dt.date) -> Universe:
    """The instruments listed on `day` (cached; a few days are kept)."""
    universe = _universes.get(day)
    if universe is None:
        universe = Universe(day, [*STATIC, *_derivatives(day), *_commodity_futures(day)])
        with _lock:
            if len(_universes) > 8:
                _universes.clear()
            _universes[day] = universe
    return universe


def instrument_by_token(token: int) -> Instrument | None:
    found = STATIC_BY_TOKEN.get(token)
    if found is None:
        found = _DECODED.get(token)
        if found is None:
            found = decode_derivative(token) or decode_commodity(token)
            if found is not None:
                if len(_DECODED) > 65536:
                    _DECODED.clear()
                _DECODED[token] = found
    return found


_DECODED: dict[int, Instrument] = {}  # decoded contracts (a frozen dataclass each: safe to share)


def instrument_by_key(key: str, day: dt.date) -> Instrument | None:
    return universe_for(day).by_key.get(key)
