"""Read side: what each Kite GET route answers, built from the books and the price model."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sandbox import accounting as acc
from sandbox import charges as fees
from sandbox import pricing
from sandbox.accounting import ZERO, dec
from sandbox.clock import IST, SESSION_MINUTES, book_day, is_trading_day, kite_timestamp, session_open
from sandbox.conf import market_always_open
from sandbox.depth import market_depth
from sandbox.engine.book import read_book
from sandbox.engine.margins import MarginSummary, margin_summary
from sandbox.engine.payload import order_payload
from sandbox.engine.spec import OPEN_STATUSES
from sandbox.errors import InputError
from sandbox.models import Holding, Order, OrderEvent, PaperUser, Position, Trade
from sandbox.universe import Instrument, instrument_by_key, instrument_by_token, universe_for

QUOTE_LIMIT, OHLC_LIMIT = 500, 1000
CSV_HEADER = ["instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
              "tick_size", "lot_size", "instrument_type", "segment", "exchange"]
HISTORICAL_LIMITS = {"minute": (1, 60), "3minute": (3, 100), "5minute": (5, 100), "10minute": (10, 100),
                     "15minute": (15, 200), "30minute": (30, 200), "60minute": (60, 400), "day": (0, 2000)}


def _zero_mtf() -> dict:
    return {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0}


def holdings_list(*, user: PaperUser, now: dt.datetime) -> list[dict]:
    out = []
    today = book_day(now)
    for h in Holding.objects.filter(user=user):
        inst = instrument_by_token(h.instrument_token)
        last = dec(pricing.price_at(inst, now)) if inst else h.average_price
        close = dec(pricing.previous_close(inst, today)) if inst else last
        change = last - close
        out.append({
            "tradingsymbol": h.tradingsymbol, "exchange": h.exchange, "instrument_token": h.instrument_token,
            "isin": h.isin, "product": "CNC", "price": 0, "quantity": h.quantity,
            "used_quantity": h.used_quantity, "t1_quantity": h.t1_quantity,
            "realised_quantity": h.realised_quantity, "authorised_quantity": 0,
            "authorised_date": f"{today.isoformat()} 00:00:00", "authorisation": {},
            "opening_quantity": h.opening_quantity, "short_quantity": 0, "collateral_quantity": 0,
            "collateral_type": "", "discrepancy": False, "average_price": acc.price(h.average_price),
            "last_price": float(last), "close_price": float(close),
            "pnl": acc.money((last - h.average_price) * h.quantity),
            "day_change": float(change.quantize(dec("0.01"))),
            "day_change_percentage": float(change / close * 100) if close else 0.0,
            "mtf": _zero_mtf(),
        })
    return out


def _position_row(pos: Position, inst: Instrument | None, legs: acc.Legs, last, close, overnight: int) -> dict:
    f = acc.position_figures(legs, last)
    return {
        "tradingsymbol": pos.tradingsymbol, "exchange": pos.exchange, "instrument_token": pos.instrument_token,
        "product": pos.product, "quantity": f["quantity"], "overnight_quantity": overnight, "multiplier": 1,
        "average_price": acc.price(f["average_price"]), "close_price": float(close), "last_price": float(last),
        "value": acc.money(f["value"]), "pnl": acc.money(f["pnl"]), "m2m": acc.money(f["m2m"]),
        "unrealised": acc.money(f["unrealised"]), "realised": acc.money(f["realised"]),
        "buy_quantity": legs.buy_quantity, "buy_price": acc.price(f["buy_price"]),
        "buy_value": acc.money(legs.buy_value), "buy_m2m": acc.money(legs.buy_m2m),
        "sell_quantity": legs.sell_quantity, "sell_price": acc.price(f["sell_price"]),
        "sell_value": acc.money(legs.sell_value), "sell_m2m": acc.money(legs.sell_m2m),
        "day_buy_quantity": pos.day_buy_quantity,
        "day_buy_price": acc.price(pos.day_buy_value / pos.day_buy_quantity if pos.day_buy_quantity else ZERO),
        "day_buy_value": acc.money(pos.day_buy_value),
        "day_sell_quantity": pos.day_sell_quantity,
        "day_sell_price": acc.price(pos.day_sell_value / pos.day_sell_quantity if pos.day_sell_quantity else ZERO),
        "day_sell_value": acc.money(pos.day_sell_value),
    }


def positions_payload(*, user: PaperUser, now: dt.datetime) -> dict:
    net, day = [], []
    today = book_day(now)
    for pos in Position.objects.filter(user=user):
        inst = instrument_by_token(pos.instrument_token)
        last = dec(pricing.price_at(inst, now)) if inst else ZERO
        close = dec(pricing.previous_close(inst, today)) if inst else ZERO
        net.append(_position_row(pos, inst, acc.net_legs(pos), last, close, pos.overnight_quantity))
        if pos.day_buy_quantity or pos.day_sell_quantity:
            day.append(_position_row(pos, inst, acc.day_legs(pos), last, close, 0))
    return {"net": net, "day": day}


def _segment(enabled: bool, opening, summary: MarginSummary | None) -> dict:
    s = summary
    net = s.net if s else opening
    return {
        "enabled": enabled,
        "net": acc.money(net),
        "available": {"adhoc_margin": 0, "cash": acc.money(opening), "opening_balance": acc.money(opening),
                      "live_balance": acc.money(net), "collateral": 0, "intraday_payin": 0},
        "utilised": {
            "debits": acc.money(s.debits) if s else 0, "exposure": acc.money(s.exposure) if s else 0,
            "m2m_realised": acc.money(s.m2m_realised) if s else 0,
            "m2m_unrealised": acc.money(s.m2m_unrealised) if s else 0,
            "option_premium": acc.money(s.option_premium) if s else 0, "payout": 0,
            "span": acc.money(s.span) if s else 0, "holding_sales": acc.money(s.holding_sales) if s else 0,
            "turnover": 0, "liquid_collateral": 0, "stock_collateral": 0,
            "delivery": acc.money(s.delivery) if s else 0,  # the sale-proceeds hold (engine.margins)
        },
    }


def margins_payload(*, user: PaperUser, now: dt.datetime, segment: str | None = None) -> dict:
    if segment not in (None, "equity", "commodity"):
        raise InputError(f"Invalid segment {segment!r}: use equity or commodity.")
    equity = _segment(True, user.opening_balance, margin_summary(read_book(user), now)) \
        if segment in (None, "equity") else None
    commodity = _segment(True, ZERO, None)
    if segment == "equity":
        return equity
    if segment == "commodity":
        return commodity
    return {"equity": equity, "commodity": commodity}


def _book_orders(user: PaperUser, now: dt.datetime):
    today = book_day(now)
    return Order.objects.filter(user=user, book_day=today) | Order.objects.filter(
        user=user, status__in=OPEN_STATUSES)


def orders_list(*, user: PaperUser, now: dt.datetime) -> list[dict]:
    return [order_payload(o, user) for o in _book_orders(user, now).order_by("order_timestamp", "id")]


def order_history(*, user: PaperUser, order_id: str) -> list[dict]:
    order = Order.objects.filter(user=user, order_id=order_id).first()
    if order is None:
        raise InputError(f"Couldn't find that `order_id` ({order_id}).")
    return list(OrderEvent.objects.filter(order=order).values_list("snapshot", flat=True))


def _trade_payload(t: Trade, order: Order) -> dict:
    local = t.fill_timestamp.astimezone(IST)
    return {
        "trade_id": t.trade_id, "order_id": order.order_id, "exchange": t.exchange,
        "tradingsymbol": t.tradingsymbol, "instrument_token": t.instrument_token, "product": t.product,
        "average_price": acc.price(t.price), "quantity": t.quantity,
        "exchange_order_id": order.exchange_order_id or None, "transaction_type": t.transaction_type,
        "fill_timestamp": kite_timestamp(t.fill_timestamp), "order_timestamp": local.strftime("%H:%M:%S"),
        "exchange_timestamp": kite_timestamp(t.fill_timestamp),
    }


def trades_list(*, user: PaperUser, now: dt.datetime) -> list[dict]:
    return [_trade_payload(t, t.order) for t in
            Trade.objects.filter(user=user, book_day=book_day(now)).select_related("order")]


def order_trades(*, user: PaperUser, order_id: str) -> list[dict]:
    order = Order.objects.filter(user=user, order_id=order_id).first()
    if order is None:
        raise InputError(f"Couldn't find that `order_id` ({order_id}).")
    return [_trade_payload(t, order) for t in Trade.objects.filter(order=order)]


# --- market data -------------------------------------------------------------------------------------

def _instruments(keys: list[str], now: dt.datetime, limit: int) -> list[tuple[str, Instrument]]:
    if not keys:
        raise InputError("Missing `i`: give one or more instruments as EXCHANGE:TRADINGSYMBOL.")
    if len(keys) > limit:
        raise InputError(f"Too many instruments: at most {limit} per request, got {len(keys)}.")
    today = book_day(now)
    found = []
    for key in keys:
        inst = instrument_by_key(key, today)
        if inst is None and key.isdigit():  # Kite also accepts instrument tokens
            inst = instrument_by_token(int(key))
        if inst is not None:
            found.append((key, inst))
    return found


def ltp_payload(*, keys: list[str], now: dt.datetime) -> dict:
    return {key: {"instrument_token": inst.instrument_token, "last_price": pricing.price_at(inst, now)}
            for key, inst in _instruments(keys, now, OHLC_LIMIT)}


def ohlc_payload(*, keys: list[str], now: dt.datetime) -> dict:
    out = {}
    for key, inst in _instruments(keys, now, OHLC_LIMIT):
        s = pricing.snapshot(inst, now)
        out[key] = {"instrument_token": inst.instrument_token, "last_price": s.last_price,
                    "ohlc": {"open": s.open, "high": s.high, "low": s.low, "close": s.close}}
    return out


def _quote_entry(inst: Instrument, now: dt.datetime) -> dict:
    s = pricing.snapshot(inst, now)
    book = market_depth(inst, now)
    buy, sell = [level.as_kite() for level in book.bids], [level.as_kite() for level in book.asks]
    oi = pricing.open_interest(inst, now)
    band = 0.0 if inst.is_index else 0.2
    return {
        "instrument_token": inst.instrument_token,
        "timestamp": kite_timestamp(now),
        "last_trade_time": kite_timestamp(s.last_trade_time),
        "last_price": s.last_price,
        "last_quantity": 0 if inst.is_index else max(inst.lot_size, 1) * (1 + inst.exchange_token % 7),
        "buy_quantity": sum(d["quantity"] for d in buy) * 37,
        "sell_quantity": sum(d["quantity"] for d in sell) * 41,
        "volume": s.volume,
        "average_price": s.average_price,
        "oi": oi, "oi_day_high": oi, "oi_day_low": oi,
        "net_change": round(s.last_price - s.close, 2),
        "lower_circuit_limit": pricing.round_tick(s.close * (1 - band)) if band else 0,
        "upper_circuit_limit": pricing.round_tick(s.close * (1 + band)) if band else 0,
        "ohlc": {"open": s.open, "high": s.high, "low": s.low, "close": s.close},
        "depth": {"buy": buy, "sell": sell},
    }


class _QuoteCache:
    """Quotes by (instrument, wall-clock minute, shift version, always-open): everything a quote shows
    but its `timestamp` is a function of those (prices, depth and open interest move on minute marks),
    so within a minute a quote is built and JSON-encoded once, whoever asks. Instruments with a price
    shift of their own (or on their index) are never cached: a shift starts at an instant, mid-minute."""

    _STAMP = "\u0000timestamp\u0000"

    def __init__(self, size: int = 8192) -> None:
        self.size, self.entries = size, {}
        self.lock = threading.Lock()

    def get(self, inst: Instrument, now: dt.datetime, when: tuple) -> tuple[dict, bytes, bytes]:
        """`when`: `moment_key(now)`, computed once per request."""
        cacheable = not pricing.shifted(inst)
        key = (inst.instrument_token, *when)
        found = self.entries.get(key) if cacheable else None
        if found is None:
            entry = _quote_entry(inst, now)
            head, _, tail = json.dumps({**entry, "timestamp": self._STAMP}).partition(json.dumps(self._STAMP))
            found = (entry, head.encode(), tail.encode())
            if cacheable:
                with self.lock:
                    if len(self.entries) >= self.size:
                        self.entries.clear()
                    self.entries[key] = found
        return found


_QUOTES = _QuoteCache()


def moment_key(now: dt.datetime) -> tuple:
    """What a quote's content depends on besides the instrument: the minute, the shifts, the hours."""
    return int(now.timestamp() // 60), pricing.SHIFTS.version, market_always_open()


class EncodedPayload(dict):
    """A payload that also carries its whole response body, already encoded (`sandbox.http` sends it
    as it is); as a dict it reads like any other payload."""

    encoded_body: bytes


def quote_payload(*, keys: list[str], now: dt.datetime) -> dict:
    out: dict = {}
    encoded: dict[str, bytes] = {}
    timestamp, when = kite_timestamp(now), moment_key(now)
    stamp = json.dumps(timestamp).encode()
    for key, inst in _instruments(keys, now, QUOTE_LIMIT):
        entry, head, tail = _QUOTES.get(inst, now, when)
        out[key] = {**entry, "timestamp": timestamp}
        encoded[key] = head + stamp + tail
    payload = EncodedPayload(out)
    payload.encoded_body = b'{"status": "success", "data": {' + b", ".join(
        json.dumps(key).encode() + b": " + body for key, body in encoded.items()) + b"}}"
    return payload


@lru_cache(maxsize=8)
def _instrument_dumps(day: dt.date) -> dict[str | None, bytes]:
    """The instrument master of `day` as Kite's CSV: every exchange (None) and each one (built once a day)."""
    rows: dict[str | None, list[list[str]]] = {None: []}
    for inst in universe_for(day).instruments:
        row = [str(inst.instrument_token), str(inst.exchange_token), inst.tradingsymbol, inst.name,
               repr(pricing.previous_close(inst, day)), inst.expiry.isoformat() if inst.expiry else "",
               repr(float(inst.strike)), repr(float(inst.tick_size)), str(inst.lot_size),
               inst.instrument_type, inst.segment, inst.exchange]
        rows[None].append(row)
        rows.setdefault(inst.exchange, []).append(row)
    out = {}
    for exchange, exchange_rows in rows.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(exchange_rows)
        out[exchange] = buffer.getvalue().encode()
    return out


def instruments_csv(*, exchange: str | None, now: dt.datetime) -> bytes:
    """`GET /instruments[/exchange]`: the day's instrument master (just the header for an exchange
    the sandbox lists nothing on)."""
    if exchange is not None and exchange.upper() not in ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"):
        raise InputError(f"Invalid exchange {exchange!r}: use NSE, BSE, NFO, CDS, BFO, MCX or BCD.")
    dumps = _instrument_dumps(book_day(now))
    return dumps.get(exchange.upper() if exchange else None) or (",".join(CSV_HEADER) + "\n").encode()


def _parse_when(raw: str | None, name: str) -> dt.datetime:
    if not raw:
        raise InputError(f"Missing `{name}`: a date as yyyy-mm-dd or yyyy-mm-dd hh:mm:ss.")
    text = raw.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"Invalid `{name}` {raw!r}: a date as yyyy-mm-dd or yyyy-mm-dd hh:mm:ss.") from None
    return parsed.astimezone(IST) if parsed.tzinfo else parsed.replace(tzinfo=IST)


def _flag(raw: str | None, name: str) -> bool:
    value = (raw or "0").strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false", ""):
        return False
    raise InputError(f"Invalid `{name}` {raw!r}: use 0 or 1.")


def _candle(moment: dt.datetime, o: float, h: float, lo: float, c: float, v: int, oi: int | None) -> list:
    row = [moment.strftime("%Y-%m-%dT%H:%M:%S+0530"), o, h, lo, c, v]
    if oi is not None:
        row.append(oi)
    return row


def historical_candles(*, instrument_token: str, interval: str, params, now: dt.datetime) -> dict:
    if interval not in HISTORICAL_LIMITS:
        raise InputError(f"Invalid interval {interval!r}: use one of {', '.join(HISTORICAL_LIMITS)}.")
    try:
        token = int(instrument_token)
    except ValueError:
        raise InputError(f"Invalid instrument token {instrument_token!r}.") from None
    inst = instrument_by_token(token)
    if inst is None:
        raise InputError(f"Invalid instrument token {instrument_token!r}: no such instrument.")
    start, end = _parse_when(params.get("from"), "from"), _parse_when(params.get("to"), "to")
    if len((params.get("to") or "").strip()) == 10:
        end = end.replace(hour=23, minute=59, second=59)
    if start > end:
        raise InputError("Invalid range: `from` is after `to`.")
    step, max_days = HISTORICAL_LIMITS[interval]
    if (end - start) > dt.timedelta(days=max_days):
        raise InputError(f"interval exceeds max limit: {max_days} days")
    continuous, with_oi = _flag(params.get("continuous"), "continuous"), _flag(params.get("oi"), "oi")
    if continuous and not inst.is_future:
        raise InputError("`continuous` data is only available for futures.")
    end = min(end, now)
    candles: list[list] = []
    day = start.date()
    while day <= end.date():
        if is_trading_day(day) and (continuous or inst.expiry is None or day <= inst.expiry):
            source = inst
            if continuous and inst.expiry is not None and day > inst.expiry:
                source = _front_future(inst, day) or inst
            candles += _day_candles(source, day, step, start, end, now, with_oi)
        day += dt.timedelta(days=1)
    return {"candles": candles}


def _front_future(inst: Instrument, day: dt.date) -> Instrument | None:
    return next((i for i in universe_for(day).instruments if i.is_future and i.name == inst.name), None)


def _day_candles(inst: Instrument, day: dt.date, step: int, start: dt.datetime, end: dt.datetime,
                 now: dt.datetime, with_oi: bool) -> list[list]:
    opened = session_open(day)
    if opened > now:
        return []
    elapsed = min(SESSION_MINUTES, int((now - opened).total_seconds() // 60))
    path = pricing.path(inst, day)

    if step == 0:
        midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=IST)
        if not (start.date() <= day <= end.date()):
            return []
        values = pricing.session_values(inst, day, 0, elapsed)
        oi = pricing.open_interest(inst, opened + dt.timedelta(minutes=elapsed)) if with_oi else None
        return [_candle(midnight, values[0], max(values), min(values), values[-1], path.volume[elapsed], oi)]
    out = []
    for first in range(0, SESSION_MINUTES, step):
        moment = opened + dt.timedelta(minutes=first)
        if moment < start or moment > end or first > elapsed:
            continue
        last = min(first + step, SESSION_MINUTES, elapsed)
        values = pricing.session_values(inst, day, first, last)
        oi = pricing.open_interest(inst, moment) if with_oi else None
        out.append(_candle(moment, values[0], max(values), min(values), values[-1],
                           path.volume[last] - path.volume[first], oi))
    return out


# --- margin calculator and virtual contract note -----------------------------------------------------------

@dataclass(frozen=True)
class _OrderItem:
    """One element of a margin or charges request's JSON array, validated."""

    exchange: str
    tradingsymbol: str
    transaction_type: str
    variety: str
    product: str
    order_type: str
    quantity: int
    price: Decimal
    trigger_price: Decimal


def _item_number(raw: dict, name: str, position: int, *, whole: bool = False) -> Decimal:
    value = raw.get(name, 0)
    if value in (None, ""):
        value = 0
    if isinstance(value, bool):
        raise InputError(f"Invalid `{name}` in order {position}: expected a number.")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InputError(f"Invalid `{name}` {value!r} in order {position}: expected a number.") from None
    if not number.is_finite() or number < 0 or (whole and number != number.to_integral_value()):
        kind = "a whole number" if whole else "a number"
        raise InputError(f"Invalid `{name}` {value!r} in order {position}: expected {kind}, 0 or more.")
    return number


def _order_item(raw: dict, position: int, *, price_field: str = "price") -> _OrderItem:
    def text(name: str, choices: tuple[str, ...] | None = None, default: str = "") -> str:
        value = str(raw.get(name) or default).strip()
        value = value.lower() if name == "variety" else value.upper()
        if not value:
            raise InputError(f"Missing `{name}` in order {position}.")
        if choices and value not in choices:
            raise InputError(f"Invalid `{name}` {raw.get(name)!r} in order {position}: "
                             f"use one of {', '.join(choices)}.")
        return value

    quantity = _item_number(raw, "quantity", position, whole=True)
    if not 0 < quantity <= 10_000_000:
        raise InputError(f"Invalid `quantity` in order {position}: from 1 to 10000000.")
    return _OrderItem(
        exchange=text("exchange", ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD")),
        tradingsymbol=text("tradingsymbol"),
        transaction_type=text("transaction_type", ("BUY", "SELL")),
        variety=text("variety", default="regular"),
        product=text("product", ("CNC", "NRML", "MIS", "MTF", "CO", "BO")),
        order_type=text("order_type", ("MARKET", "LIMIT", "SL", "SL-M"), default="MARKET"),
        quantity=int(quantity),
        price=_item_number(raw, price_field, position),
        trigger_price=_item_number(raw, "trigger_price", position),
    )


def _listed(item: _OrderItem, position: int, now: dt.datetime) -> Instrument:
    inst = instrument_by_key(f"{item.exchange}:{item.tradingsymbol}", book_day(now))
    if inst is None or inst.is_index:
        raise InputError(f"Order {position}: {item.exchange}:{item.tradingsymbol} is not an instrument the sandbox "
                         "lists (or it has expired).")
    return inst


def _margin_price(item: _OrderItem, inst: Instrument, now: dt.datetime) -> Decimal:
    """The price a margin is reckoned at: the order's limit, an SL-M's trigger, else the last price."""
    if item.order_type in ("LIMIT", "SL") and item.price > 0:
        return item.price
    if item.order_type == "SL-M" and item.trigger_price > 0:
        return item.trigger_price
    return dec(pricing.price_at(inst, now))


def _underlying_price(inst: Instrument, now: dt.datetime) -> Decimal:
    underlying = instrument_by_token(inst.underlying_token) if inst.is_derivative else None
    return dec(pricing.price_at(underlying, now)) if underlying else ZERO


def _item_charges(item: _OrderItem, instrument_type: str, price: Decimal) -> fees.Charges:
    segment = fees.segment_for(exchange=item.exchange, instrument_type=instrument_type, product=item.product)
    return fees.order_charges(segment=segment, exchange=item.exchange, transaction_type=item.transaction_type,
                              quantity=item.quantity, price=price)


def _margin_object(m: acc.LegMargin, charges: fees.Charges, *, inst: Instrument | None = None,
                   leverage: int = 0, compact: bool = False) -> dict:
    """Kite's margin object (`order_margins.json`); for a basket's initial/final, `inst` is None and
    type, tradingsymbol and exchange are empty. Compact: type, tradingsymbol, exchange and total."""
    head = {"type": ("commodity" if inst.exchange == "MCX" else "equity") if inst else "",
            "tradingsymbol": inst.tradingsymbol if inst else "", "exchange": inst.exchange if inst else ""}
    if compact:
        return {**head, "total": float(m.total)}
    return {**head, "span": float(m.span), "exposure": float(m.exposure), "option_premium": float(m.option_premium),
            "additional": 0, "bo": 0, "cash": 0, "var": float(m.var), "pnl": {"realised": 0, "unrealised": 0},
            "leverage": leverage, "charges": fees.charges_payload(charges), "total": float(m.total)}


@dataclass(frozen=True)
class _PricedOrder:
    item: _OrderItem
    inst: Instrument
    price: Decimal
    margin: acc.LegMargin
    charges: fees.Charges


def _priced(orders: list[dict], now: dt.datetime) -> list[_PricedOrder]:
    out = []
    for position, raw in enumerate(orders, start=1):
        item = _order_item(raw, position)
        inst = _listed(item, position, now)
        price = _margin_price(item, inst, now)
        margin = acc.leg_margin(inst, item.product, item.transaction_type, item.quantity, price,
                                _underlying_price(inst, now))
        out.append(_PricedOrder(item, inst, price, margin, _item_charges(item, inst.instrument_type, price)))
    return out


def _leverage(p: _PricedOrder) -> int:
    return 5 if not p.inst.is_derivative and p.item.product == "MIS" else 1  # 20% intraday margin


def order_margins_payload(*, orders: list[dict], now: dt.datetime, compact: bool = False) -> list[dict]:
    """`POST /margins/orders`: each order's margin on its own (a flat book), with its charges."""
    return [_margin_object(p.margin, p.charges, inst=p.inst, leverage=_leverage(p), compact=compact)
            for p in _priced(orders, now)]


def _position_legs(user: PaperUser, now: dt.datetime) -> list[acc.Leg]:
    legs = []
    for pos in read_book(user).positions.values():
        inst = instrument_by_token(pos.instrument_token)
        if inst is not None and inst.is_derivative and pos.quantity:
            legs.append(acc.Leg(inst, pos.quantity, dec(pricing.price_at(inst, now)), _underlying_price(inst, now)))
    return legs


def basket_margins_payload(*, user: PaperUser, orders: list[dict], now: dt.datetime, consider_positions: bool,
                           compact: bool = False) -> dict:
    """`POST /margins/basket`: `initial` is the sum of the orders' own margins; `final` is what the
    basket blocks as a whole, with the spread benefit of hedged F&O legs (`accounting.hedged_margin`)
    and net option premium (paid less received, as Kite shows it); with consider_positions, what
    the basket adds to the open F&O positions' margin (never below 0)."""
    priced = _priced(orders, now)
    initial = sum((p.margin for p in priced), acc.LegMargin())
    legs = [acc.Leg(p.inst, p.item.quantity if p.item.transaction_type == "BUY" else -p.item.quantity, p.price,
                    _underlying_price(p.inst, now)) for p in priced if p.inst.is_derivative]
    hedged = acc.hedged_margin(legs)
    if consider_positions:
        held = _position_legs(user, now)
        if held:
            before, after = acc.hedged_margin(held), acc.hedged_margin(held + legs)
            hedged = acc.LegMargin(span=max(ZERO, after.span - before.span),
                                   exposure=max(ZERO, after.exposure - before.exposure))
    premium = sum(((p.item.quantity * p.price) * (1 if p.item.transaction_type == "BUY" else -1)
                   for p in priced if p.inst.is_option), ZERO)
    var = sum((p.margin.var for p in priced), ZERO)
    final = acc.LegMargin(span=hedged.span, exposure=hedged.exposure, option_premium=premium, var=var)
    charges = sum((p.charges for p in priced[1:]), priced[0].charges)
    return {
        "initial": _margin_object(initial, fees.NO_CHARGES, compact=compact),
        "final": _margin_object(final, fees.NO_CHARGES, compact=compact),
        "orders": [_margin_object(p.margin, p.charges, inst=p.inst, leverage=_leverage(p), compact=compact)
                   for p in priced],
        "charges": fees.charges_payload(charges),
    }


def contract_note_payload(*, orders: list[dict], now: dt.datetime) -> list[dict]:
    """`POST /charges/orders`: the virtual contract note of executed orders (their average_price),
    by Zerodha's charges list (`sandbox.charges`). An instrument the sandbox does not list (MCX,
    currency) is charged by the segment its exchange and symbol say."""
    out = []
    for position, raw in enumerate(orders, start=1):
        item = _order_item(raw, position, price_field="average_price")
        if item.price <= 0:
            raise InputError(f"Invalid `average_price` in order {position}: the price it was executed at, above 0.")
        inst = instrument_by_key(f"{item.exchange}:{item.tradingsymbol}", book_day(now))
        kind = inst.instrument_type if inst else fees.instrument_type_of(item.exchange, item.tradingsymbol)
        out.append({"transaction_type": item.transaction_type, "tradingsymbol": item.tradingsymbol,
                    "exchange": item.exchange, "variety": item.variety, "product": item.product,
                    "order_type": item.order_type, "quantity": item.quantity, "price": float(item.price),
                    "charges": fees.charges_payload(_item_charges(item, kind, item.price))})
    return out
