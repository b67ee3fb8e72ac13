"""Market depth with finite quantities, and orders walking it: through the official client over
HTTP (several trades per order, partial fills resting, IOC remainders cancelled, the same book for
the same clock), and the pure walk."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sandbox.clock import IST
from sandbox.depth import LEVELS, Level, market_depth, passive_side, walk
from sandbox.universe import instrument_by_key

TICK = 0.05
CASH = 20_000_000


def tick(value: float) -> float:
    return round(round(value / TICK) * TICK, 2)


def asks(kite, key: str = "NSE:INFY") -> list[dict]:
    return kite.quote(key)[key]["depth"]["sell"]


def place(kite, **params) -> str:
    defaults = {"variety": "regular", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                "product": "CNC"}
    return kite.place_order(**{**defaults, **params})


def expected_walk(levels: list[dict], quantity: int, limit: float) -> list[tuple[float, int]]:
    out = []
    for level in levels:
        if quantity == 0 or level["price"] > limit + 1e-9:
            break
        units = min(level["quantity"], quantity)
        out.append((level["price"], units))
        quantity -= units
    return out


# --- over HTTP -----------------------------------------------------------------------------------------

def test_the_quote_shows_five_finite_levels_a_side_and_the_same_book_for_the_same_clock(sandbox):
    kite = sandbox.connect()
    quote = kite.quote("NSE:INFY", "NSE:RELIANCE")
    for key, q in quote.items():
        buy, sell = q["depth"]["buy"], q["depth"]["sell"]
        assert len(buy) == len(sell) == 5
        assert all(0 < level["quantity"] < 5000 and level["orders"] >= 1 for level in buy + sell), key
        assert sell[0]["price"] - buy[0]["price"] == pytest.approx(TICK)  # a one-tick spread
        assert q["last_price"] in (sell[0]["price"], buy[0]["price"])
        assert [lv["price"] for lv in sell] == sorted(lv["price"] for lv in sell)
        assert [lv["price"] for lv in buy] == sorted((lv["price"] for lv in buy), reverse=True)
        assert sum(lv["quantity"] for lv in sell) * q["last_price"] > 500_000  # a large cap: lakhs a side
    now = sandbox.clock()
    sandbox.set_clock(now + dt.timedelta(minutes=7))
    later = kite.quote("NSE:INFY")["NSE:INFY"]["depth"]
    sandbox.set_clock(now)
    assert kite.quote("NSE:INFY")["NSE:INFY"]["depth"] == quote["NSE:INFY"]["depth"]
    assert later != quote["NSE:INFY"]["depth"]


def test_a_1000_share_market_order_walks_several_levels(sandbox):
    kite = sandbox.connect(starting_cash=CASH)
    book = asks(kite)
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    band = last * 1.005  # Kite's automatic protection above Rs 500: 0.5 %
    order_id = place(kite, quantity=1000, order_type="MARKET", market_protection=-1)
    trades = kite.order_trades(order_id)
    expected = expected_walk(book, 1000, band)
    assert [(t["average_price"], t["quantity"]) for t in trades] == expected
    assert len(trades) >= 2
    traded = sum(t["quantity"] for t in trades)
    assert traded == min(1000, sum(lv["quantity"] for lv in book if lv["price"] <= band))
    (order,) = kite.orders()
    average = sum(t["average_price"] * t["quantity"] for t in trades) / traded
    assert order["average_price"] == pytest.approx(average, abs=1e-6)
    assert trades[0]["average_price"] < order["average_price"] < trades[-1]["average_price"]
    assert (order["filled_quantity"], order["pending_quantity"]) == (traded, 1000 - traded)
    assert order["status"] == ("COMPLETE" if traded == 1000 else "OPEN")  # beyond the five levels: it rests


def test_a_marketable_limit_fills_in_part_rests_and_fills_after_the_price_falls(sandbox):
    kite = sandbox.connect(starting_cash=CASH)
    book = asks(kite)
    limit = book[1]["price"]  # two levels in reach
    in_reach = book[0]["quantity"] + book[1]["quantity"]
    order_id = place(kite, quantity=in_reach + 50, order_type="LIMIT", price=limit)
    (order,) = kite.orders()
    assert order["status"] == "OPEN"
    assert (order["filled_quantity"], order["pending_quantity"]) == (in_reach, 50)
    assert [(t["average_price"], t["quantity"]) for t in kite.order_trades(order_id)] == [
        (book[0]["price"], book[0]["quantity"]), (book[1]["price"], book[1]["quantity"])]
    # The same book, met again at the same instant, has nothing more for it.
    assert kite.orders()[0]["filled_quantity"] == in_reach
    sandbox.move_price("NSE:INFY", -2)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["pending_quantity"]) == ("COMPLETE", in_reach + 50, 0)
    trades = kite.order_trades(order_id)
    assert (trades[-1]["average_price"], trades[-1]["quantity"]) == (limit, 50)  # resting: at its own price
    total = sum(t["average_price"] * t["quantity"] for t in trades)
    assert order["average_price"] == pytest.approx(total / (in_reach + 50), abs=1e-6)


def test_a_partial_fill_takes_a_minutes_book_once_however_often_the_book_is_read(sandbox):
    """Prices (and so the book) hold for the minute: meeting the book again later in that minute (reads skip
    it; a write, here another order, brings the books up to its instant) must not fill more, or how fast an
    order fills would depend on how often somebody places or reads."""
    kite = sandbox.connect(starting_cash=CASH)
    start = sandbox.clock().replace(second=5, microsecond=0)
    sandbox.set_clock(start)
    book = asks(kite)
    limit = book[1]["price"]
    in_reach = book[0]["quantity"] + book[1]["quantity"]
    place(kite, quantity=in_reach * 3, order_type="LIMIT", price=limit)
    far_below = tick(kite.ltp("NSE:RELIANCE")["NSE:RELIANCE"]["last_price"] * 0.9)
    for second in (20, 35, 50, 59):
        sandbox.set_clock(start.replace(second=second))
        assert asks(kite) == book  # the same book all minute
        place(kite, tradingsymbol="RELIANCE", quantity=1, order_type="LIMIT", price=far_below)
        order = next(o for o in kite.orders() if o["tradingsymbol"] == "INFY")
        assert (order["status"], order["filled_quantity"]) == ("OPEN", in_reach), second


def test_an_ioc_limit_keeps_what_it_filled_and_its_remainder_is_cancelled(sandbox):
    kite = sandbox.connect(starting_cash=CASH)
    book = asks(kite)
    order_id = place(kite, quantity=book[0]["quantity"] + 10, order_type="LIMIT", price=book[0]["price"],
                     validity="IOC")
    (order,) = kite.orders()
    assert order["status"] == "CANCELLED"
    assert (order["filled_quantity"], order["pending_quantity"], order["cancelled_quantity"]) == (
        book[0]["quantity"], 0, 10)
    assert order["average_price"] == book[0]["price"]
    assert [t["quantity"] for t in kite.order_trades(order_id)] == [book[0]["quantity"]]
    position = next(p for p in kite.positions()["day"] if p["tradingsymbol"] == "INFY")
    assert position["quantity"] == book[0]["quantity"]


def test_a_market_order_beyond_its_protection_band_rests_at_the_band(sandbox):
    kite = sandbox.connect(starting_cash=CASH)
    book = asks(kite)
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    protection = 0.01  # per cent: the band reaches only a tick or so above the last price
    band_price = float(int(Decimal(str(last)) * (1 + Decimal(str(protection)) / 100) / Decimal("0.05"))
                       * Decimal("0.05"))
    in_band = sum(lv["quantity"] for lv in book if lv["price"] <= band_price)
    place(kite, quantity=in_band + 100, order_type="MARKET", market_protection=protection)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["pending_quantity"]) == ("OPEN", in_band, 100)


# --- pure ----------------------------------------------------------------------------------------------

LEVELS_ = (Level(Decimal("100.00"), 300, 5), Level(Decimal("100.05"), 200, 3), Level(Decimal("100.10"), 400, 7))


def test_walk_takes_level_by_level_up_to_the_limit_and_skips_what_it_took():
    assert walk(LEVELS_, 100, buy=True, limit=None) == [(Decimal("100.00"), 100)]
    assert walk(LEVELS_, 600, buy=True, limit=None) == [(Decimal("100.00"), 300), (Decimal("100.05"), 200),
                                                        (Decimal("100.10"), 100)]
    assert walk(LEVELS_, 600, buy=True, limit=Decimal("100.05")) == [(Decimal("100.00"), 300),
                                                                     (Decimal("100.05"), 200)]
    assert walk(LEVELS_, 600, buy=True, limit=Decimal("99.95")) == []
    assert walk(LEVELS_, 600, buy=True, limit=None, skip=350) == [(Decimal("100.05"), 150),
                                                                  (Decimal("100.10"), 400)]
    bids = (Level(Decimal("99.95"), 50, 1), Level(Decimal("99.90"), 50, 1))
    assert walk(bids, 80, buy=False, limit=Decimal("99.90")) == [(Decimal("99.95"), 50), (Decimal("99.90"), 30)]
    assert walk(bids, 80, buy=False, limit=Decimal("99.95")) == [(Decimal("99.95"), 50)]


def test_the_book_is_a_function_of_the_clock_with_a_one_tick_spread():
    moment = dt.datetime(2025, 1, 15, 11, 0, tzinfo=IST)
    infy = instrument_by_key("NSE:INFY", moment.date())
    depth = market_depth(infy, moment)
    assert depth == market_depth(infy, moment) and len(depth.bids) == len(depth.asks) == LEVELS
    assert depth.asks[0].price - depth.bids[0].price == Decimal("0.05")
    assert all(level.quantity > 0 for level in depth.bids + depth.asks)
    nifty = instrument_by_key("NSE:NIFTY 50", moment.date())
    assert all(level.quantity == 0 for level in market_depth(nifty, moment).asks)  # an index has no book


def test_a_resting_order_meets_the_opposite_side_from_the_last_price():
    moment = dt.datetime(2025, 1, 15, 11, 0, tzinfo=IST)
    infy = instrument_by_key("NSE:INFY", moment.date())
    depth = market_depth(infy, moment)
    last = Decimal("1500.00")
    side = passive_side(depth, "BUY", last, 0.05)
    assert [lv.price for lv in side] == [last + Decimal("0.05") * i for i in range(LEVELS)]
    assert [lv.quantity for lv in side] == [lv.quantity for lv in depth.asks]
