"""The instrument universe, kept in memory: NIFTY 50 stocks on NSE and BSE, the main indices, and
NIFTY/BANKNIFTY futures and options whose expiries are computed from the sandbox clock's date.

Derivative tokens encode the contract (expiry, underlying, kind, strike), so a contract that has
expired since a position was opened is still known by its token.
"""
from __future__ import annotations

import calendar
import datetime as dt
import threading
from dataclasses import dataclass, field

from sandbox.data import FNO_UNDERLYINGS, FREEZE_QUANTITIES, INDICES, NIFTY50

NSE_SEGMENT, NFO_SEGMENT, BSE_SEGMENT, INDICES_SEGMENT = 1, 2, 4, 9
EXCHANGES = ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKLY_MONTH_CODES = "123456789OND"
_UNDERLYING_NAMES = tuple(FNO_UNDERLYINGS)
_KINDS = ("FUT", "CE", "PE")
STRIKES_EACH_SIDE = 9  # strikes base-9 steps .. base+9 steps (a fixed grid: contracts never vanish)
_DERIV_BASE = 1_000_000
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
        return self.exchange == "NFO"

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


def _equities() -> list[Instrument]:
    out = []
    for symbol, name, isin, nse_token, bse_code, base in NIFTY50:
        seed = nse_token * 256 + NSE_SEGMENT
        out.append(Instrument(seed, nse_token, symbol, name, "NSE", "NSE", "EQ", 0.05, 1, isin, base, seed))
        out.append(Instrument(bse_code * 256 + BSE_SEGMENT, bse_code, symbol, name, "BSE", "BSE", "EQ", 0.05, 1,
                              isin, base, seed))
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
    code = (((expiry.toordinal() - _EPOCH_ORDINAL) * len(_UNDERLYING_NAMES) + u) * 3 + k) * 32 + strike_index
    exchange_token = _DERIV_BASE + code
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
    code = (token >> 8) - _DERIV_BASE
    if code < 0:
        return None
    strike_index, rest = code % 32, code // 32
    k, rest = rest % 3, rest // 3
    u, days = rest % len(_UNDERLYING_NAMES), rest // len(_UNDERLYING_NAMES)
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
        universe = Universe(day, [*STATIC, *_derivatives(day)])
        with _lock:
            if len(_universes) > 8:
                _universes.clear()
            _universes[day] = universe
    return universe


def instrument_by_token(token: int) -> Instrument | None:
    return STATIC_BY_TOKEN.get(token) or decode_derivative(token)


def instrument_by_key(key: str, day: dt.date) -> Instrument | None:
    return universe_for(day).by_key.get(key)
