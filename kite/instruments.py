"""The instrument master: fetched once per trading day per Kite origin, indexed for search.

Kite's full dump has about 100,000 rows. Search answers from sorted arrays with bisect (symbol
prefixes and name-word prefixes), so a query costs microseconds, not a scan.
"""
from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
_FIELDS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
           "tick_size", "lot_size", "instrument_type", "segment", "exchange")
# The mutual-fund master (mf_instruments): schemes by their ISIN-like tradingsymbol, all on "exchange" MF.
MF_FIELDS = ("tradingsymbol", "amc", "name", "purchase_allowed", "redemption_allowed", "minimum_purchase_amount",
             "purchase_amount_multiplier", "minimum_additional_purchase_amount", "minimum_redemption_quantity",
             "redemption_quantity_multiplier", "dividend_type", "scheme_type", "plan", "settlement_type",
             "last_price", "last_price_date", "exchange")


# Where an Indian trader looks first when a symbol is listed on several exchanges.
_EXCHANGE_RANK = {"NSE": 0, "BSE": 1, "NFO": 2, "BFO": 3, "MCX": 4, "CDS": 5, "BCD": 6}


def _plain(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out = {k: row.get(k) for k in fields}
    for key, value in out.items():
        if isinstance(value, date):
            out[key] = value.isoformat()
    return out


class InstrumentIndex:
    def __init__(self, rows: Iterable[dict[str, Any]], *, fields: tuple[str, ...] = _FIELDS,
                 exchange: str | None = None) -> None:
        """`exchange` names the exchange of rows that carry none (the MF master's)."""
        self.rows: list[dict[str, Any]] = [_plain({"exchange": exchange, **r} if exchange else r, fields)
                                           for r in rows]
        self.by_key: dict[str, dict[str, Any]] = {f"{r['exchange']}:{r['tradingsymbol']}": r for r in self.rows}
        symbols: list[tuple[str, int]] = []
        words: list[tuple[str, int]] = []
        # Rows sorted once by exchange preference, so every tie below breaks towards NSE.
        self.rows.sort(key=lambda r: _EXCHANGE_RANK.get(str(r["exchange"]), 9))
        for i, r in enumerate(self.rows):
            symbols.append((str(r["tradingsymbol"]).upper(), i))
            for word in str(r["name"] or "").upper().split():
                words.append((word, i))
        symbols.sort()
        words.sort()
        self._symbols = symbols
        self._symbol_keys = [s for s, _ in symbols]
        self._words = words
        self._word_keys = [w for w, _ in words]

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, exchange: str, tradingsymbol: str) -> dict[str, Any] | None:
        return self.by_key.get(f"{exchange}:{tradingsymbol}")

    @staticmethod
    def _prefix(keys: list[str], pairs: list[tuple[str, int]], prefix: str) -> Iterable[tuple[str, int]]:
        start = bisect.bisect_left(keys, prefix)
        for j in range(start, len(keys)):
            if not keys[j].startswith(prefix):
                break
            yield pairs[j]

    def search(self, query: str, *, exchange: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Exact symbol first, then symbol prefixes (shortest first), then name-word prefixes."""
        terms = query.upper().split()
        if not terms:
            return []
        first, rest = terms[0], terms[1:]
        seen: set[int] = set()
        exact: list[int] = []
        by_symbol: list[tuple[int, str, int]] = []
        by_name: list[int] = []

        def wanted(i: int) -> bool:
            row = self.rows[i]
            if exchange and row["exchange"] != exchange:
                return False
            if rest:
                haystack = f"{row['tradingsymbol']} {row['name'] or ''}".upper().split()
                return all(any(w.startswith(t) for w in haystack) for t in rest)
            return True

        budget = max(limit * 50, 2000)  # bound the work on very short prefixes ("A")
        for symbol, i in self._prefix(self._symbol_keys, self._symbols, first):
            if budget <= 0:
                break
            budget -= 1
            if i in seen or not wanted(i):
                continue
            seen.add(i)
            (exact.append(i) if symbol == first else by_symbol.append((len(symbol), symbol, i)))
        if len(exact) + len(by_symbol) < limit:
            for _, i in self._prefix(self._word_keys, self._words, first):
                if budget <= 0 or len(exact) + len(by_symbol) + len(by_name) >= limit:
                    break
                budget -= 1
                if i in seen or not wanted(i):
                    continue
                seen.add(i)
                by_name.append(i)
        by_symbol.sort()
        order = exact + [i for _, _, i in by_symbol] + by_name
        return [self.rows[i] for i in order[:limit]]


def trading_day(now: datetime | None = None) -> date:
    """Kite publishes a new dump each morning; a day's master is keyed by its IST date."""
    return (now or datetime.now(tz=IST)).astimezone(IST).date()


@dataclass
class _Entry:
    day: date
    index: InstrumentIndex


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def instrument_index(root: str, fetch: Callable[[], list[dict[str, Any]]], *, now: datetime | None = None,
                     mutual_funds: bool = False) -> InstrumentIndex:
    """The day's index for a Kite origin; `fetch` (the client's `instruments()`, or `mf_instruments()` for the
    mutual-fund master) runs once per day."""
    today = trading_day(now)
    key = f"{root} mf" if mutual_funds else root
    entry = _cache.get(key)
    if entry is not None and entry.day == today:
        return entry.index
    with _lock:
        entry = _cache.get(key)
        if entry is None or entry.day != today:
            rows = fetch()
            index = InstrumentIndex(rows, fields=MF_FIELDS, exchange="MF") if mutual_funds else InstrumentIndex(rows)
            entry = _Entry(day=today, index=index)
            _cache[key] = entry
    return entry.index


def clear_cache() -> None:
    _cache.clear()
