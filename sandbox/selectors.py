"""Read side: what each Kite GET route answers, built from the books and the price model."""
from __future__ import annotations

import csv
import datetime as dt
import io
from functools import lru_cache

from sandbox import accounting as acc
from sandbox import pricing
from sandbox.accounting import ZERO, dec
from sandbox.clock import IST, SESSION_MINUTES, book_day, is_trading_day, kite_timestamp, session_open
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
            "turnover": 0, "liquid_collateral": 0, "stock_collateral": 0, "delivery": 0,
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


def _depth(inst: Instrument, last: float, side: int) -> list[dict]:
    if inst.is_index:
        return [{"price": 0, "quantity": 0, "orders": 0} for _ in range(5)]
    tick = inst.price_tick
    lot = max(inst.lot_size, 1)
    levels = []
    for level in range(1, 6):
        quantity = lot * (1 + (inst.exchange_token * 7 + level * 13 + int(last * 20)) % 40)
        levels.append({"price": pricing.round_tick(last + side * level * tick, tick), "quantity": quantity,
                       "orders": 1 + quantity // (lot * 5)})
    return levels


def quote_payload(*, keys: list[str], now: dt.datetime) -> dict:
    out = {}
    for key, inst in _instruments(keys, now, QUOTE_LIMIT):
        s = pricing.snapshot(inst, now)
        buy, sell = _depth(inst, s.last_price, -1), _depth(inst, s.last_price, 1)
        oi = pricing.open_interest(inst, now)
        band = 0.0 if inst.is_index else 0.2
        out[key] = {
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
    return out


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
