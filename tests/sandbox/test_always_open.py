"""A market kept always open (KITE_SANDBOX_MARKET_ALWAYS_OPEN): prices move at any hour, from the clock alone,
and every reader (quote, fills, holdings, positions, candles) sees the same price; sessions are unchanged."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest

from sandbox import pricing, selectors
from sandbox.clock import IST
from sandbox.engine.scheduler import book_sync
from sandbox.engine.services import order_place
from sandbox.models import Order, PaperUser
from sandbox.universe import instrument_by_key
from sandbox.users import StartingHolding, paper_user_create

WED, FRI, SAT, SUN, MON = (dt.date(2025, 1, d) for d in (15, 17, 18, 19, 20))
KEYS = ("NSE:INFY", "BSE:TCS", "NSE:NIFTY 50", "NFO:NIFTY25JANFUT", "NFO:NIFTY25JAN23500CE")
OFF_HOURS = [(WED, 0, 0), (WED, 4, 30), (WED, 9, 14), (WED, 15, 31), (WED, 19, 0), (WED, 23, 59), (SAT, 0, 0),
             (SAT, 11, 0), (SAT, 17, 45), (SUN, 22, 15)]


def when(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm, ss), tzinfo=IST)


def inst(key: str):
    return instrument_by_key(key, WED)


def price(key: str, moment: dt.datetime) -> float:
    return pricing.price_at(inst(key), moment)


@pytest.fixture
def always_open(settings):
    settings.KITE_SANDBOX_MARKET_ALWAYS_OPEN = True


@pytest.fixture
def market_hours(settings):
    settings.KITE_SANDBOX_MARKET_ALWAYS_OPEN = False


@pytest.mark.parametrize("key", KEYS)
def test_evening_and_weekend_prices_move_and_are_repeatable(always_open, key):
    for a, b in ((when(WED, 19), when(WED, 21, 30)), (when(SAT, 11), when(SAT, 17, 45)),
                 (when(SUN, 3), when(SUN, 22, 15)), (when(WED, 5), when(WED, 8))):
        assert price(key, a) != price(key, b)
        assert price(key, a) == price(key, a) and pricing.snapshot(inst(key), b) == pricing.snapshot(inst(key), b)
    evening = {price(key, when(WED, 20, m)) for m in range(60)}
    saturday = {price(key, when(SAT, 20, m)) for m in range(60)}
    assert len(evening) > 10 and len(saturday) > 10  # a new price about every minute, not once a day


def test_same_clock_same_prices_in_another_process(always_open):
    moments = [when(WED, 20, 17), when(SAT, 13, 5), when(MON, 6, 40)]
    here = [price("NSE:INFY", m) for m in moments] + [price("NFO:NIFTY25JANFUT", m) for m in moments]
    code = ("import datetime as dt, django, os; os.environ['DJANGO_SETTINGS_MODULE']='sandbox.settings'; "
            "django.setup(); from sandbox import pricing, universe, clock; d=dt.date(2025,1,15); "
            "ms=[dt.datetime(2025,1,15,20,17,tzinfo=clock.IST), dt.datetime(2025,1,18,13,5,tzinfo=clock.IST), "
            "dt.datetime(2025,1,20,6,40,tzinfo=clock.IST)]; "
            "print(*[pricing.price_at(universe.instrument_by_key(k, d), m) "
            "for k in ('NSE:INFY', 'NFO:NIFTY25JANFUT') for m in ms])")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "999", "PATH": "/usr/bin:/bin",
                                "KITE_SANDBOX_MARKET_ALWAYS_OPEN": "on"}).stdout.split()
    assert [float(v) for v in there] == here


def test_with_market_hours_prices_stay_frozen_off_hours(market_hours):
    for key in KEYS:
        wednesday_close = pricing.closing_price(inst(key), WED)
        assert price(key, when(WED, 19)) == price(key, when(WED, 21, 30)) == wednesday_close
        assert price(key, when(SAT, 11)) == price(key, when(SUN, 22, 15)) == pricing.closing_price(inst(key), FRI)
        assert price(key, when(WED, 5)) == price(key, when(WED, 8)) == pricing.previous_close(inst(key), WED)


def test_the_flag_leaves_every_session_price_as_it_was(settings):
    moments = [when(WED, 9, 15) + dt.timedelta(minutes=m, seconds=s) for m in range(0, 376, 7) for s in (0, 40)]
    moments += [when(FRI, 15, 30), when(WED, 12, 0, 59)]

    def read() -> list:
        return [(pricing.price_at(inst(k), m), pricing.snapshot(inst(k), m), pricing.open_interest(inst(k), m))
                for k in KEYS for m in moments]

    settings.KITE_SANDBOX_MARKET_ALWAYS_OPEN = False
    hours = read()
    settings.KITE_SANDBOX_MARKET_ALWAYS_OPEN = True
    assert read() == hours


@pytest.mark.parametrize("key", KEYS)
def test_off_hours_prices_join_the_session_and_the_day_settles_at_its_close(always_open, key):
    i = inst(key)
    assert price(key, when(WED, 9, 14, 59)) == price(key, when(WED, 9, 15))  # no jump into the open
    assert price(key, when(WED, 15, 30, 59)) == price(key, when(WED, 15, 30)) == pricing.closing_price(i, WED)
    assert price(key, when(WED, 23, 59, 59)) == pricing.closing_price(i, WED)  # what the day settles at
    friday = pricing.closing_price(i, FRI)
    if i.is_derivative:  # priced from the index's walk, less the time value the night took
        assert price(key, when(SAT, 0)) == pytest.approx(friday, rel=0.05)
    else:  # the weekend starts from Friday's close and comes back to it for Monday's open
        assert price(key, when(SAT, 0)) == friday
        assert price(key, when(SUN, 23, 59, 59)) == pytest.approx(friday, rel=1e-4, abs=0.1)
    if not i.is_option:
        minutes = [price(key, when(WED, 0) + dt.timedelta(minutes=m)) for m in range(0, 6 * 24 * 60, 7)]
        moves = [abs(b / a - 1) for a, b in zip(minutes, minutes[1:], strict=False)]
        assert max(moves) < 0.02  # a walk, with no more than an overnight gap


@pytest.mark.parametrize(("day", "hh", "mm"), OFF_HOURS, ids=[f"{d:%a}-{h:02}{m:02}" for d, h, m in OFF_HOURS])
def test_the_quote_is_coherent_at_any_hour(always_open, day, hh, mm):
    now = when(day, hh, mm)
    quotes = selectors.quote_payload(keys=list(KEYS), now=now)
    ltps = selectors.ltp_payload(keys=list(KEYS), now=now)
    ohlcs = selectors.ohlc_payload(keys=list(KEYS), now=now)
    for key in KEYS:
        q, ohlc = quotes[key], quotes[key]["ohlc"]
        assert q["last_price"] == ltps[key]["last_price"] == ohlcs[key]["last_price"] == price(key, now)
        assert ohlcs[key]["ohlc"] == ohlc
        assert ohlc["close"] == pricing.previous_close(inst(key), day)  # the day change's reference all day
        assert q["net_change"] == round(q["last_price"] - ohlc["close"], 2)
        assert ohlc["low"] <= q["last_price"] <= ohlc["high"]
        assert q["last_trade_time"] <= q["timestamp"]


@pytest.mark.parametrize("key", KEYS)
def test_after_the_close_the_quote_agrees_with_the_days_candles(always_open, key):
    i = inst(key)
    for now in (when(WED, 16, 10), when(WED, 19, 45), when(WED, 23, 0)):
        q = selectors.quote_payload(keys=[key], now=now)[key]
        day = selectors.historical_candles(instrument_token=str(i.instrument_token), interval="day",
                                           params={"from": "2025-01-15", "to": "2025-01-15"}, now=now)["candles"]
        minutes = selectors.historical_candles(instrument_token=str(i.instrument_token), interval="minute",
                                               params={"from": "2025-01-15 09:15:00", "to": "2025-01-15 23:59:00"},
                                               now=now)["candles"]
        _, o, h, lo, _, v = day[-1]
        assert (q["ohlc"]["open"], q["ohlc"]["high"], q["ohlc"]["low"], q["volume"]) == (o, h, lo, v)
        assert lo <= q["last_price"] <= h
        assert q["last_price"] in {c[4] for c in minutes} | {c[1] for c in minutes}  # a price the day traded at
    weekend = selectors.quote_payload(keys=[key], now=when(SAT, 14))[key]
    friday = selectors.historical_candles(instrument_token=str(i.instrument_token), interval="day",
                                          params={"from": "2025-01-17", "to": "2025-01-18"}, now=when(SAT, 14))
    assert weekend["ohlc"]["close"] == friday["candles"][-1][4]


def test_an_expired_contract_stays_settled_when_the_market_never_closes(always_open):
    weekly = inst("NFO:NIFTY2512124500CE")  # expired on Tuesday 21 January 2025 at 15:30
    settled = price("NFO:NIFTY2512124500CE", when(dt.date(2025, 1, 21), 15, 30))
    for now in (when(dt.date(2025, 1, 21), 20), when(dt.date(2025, 1, 22), 4), when(dt.date(2025, 1, 25), 12)):
        assert pricing.price_at(weekly, now) == settled
        s = pricing.snapshot(weekly, now)
        assert s.last_price == settled and s.last_trade_time == when(dt.date(2025, 1, 21), 15, 30)


def _place(user: PaperUser, now: dt.datetime, **params) -> Order:
    defaults = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "2",
                "product": "CNC", "order_type": "MARKET", "market_protection": "-1"}
    order_id = order_place(user=PaperUser.objects.get(pk=user.pk), variety="regular",
                           params={**defaults, **params}, now=now)
    return Order.objects.get(order_id=order_id)


@pytest.mark.django_db
def test_market_orders_fill_at_the_quoted_best_price_at_any_hour(always_open):
    user = paper_user_create(now=when(WED, 19), starting_cash=Decimal("2000000"),
                             holdings=[StartingHolding("NSE:INFY", 10, Decimal("1400"))])
    for now, params in ((when(WED, 19, 0, 20), {}), (when(WED, 22, 41), {"product": "MIS"}),
                        (when(FRI, 6, 3), {"exchange": "BSE", "tradingsymbol": "TCS"}),
                        (when(FRI, 20, 30), {"exchange": "NFO", "tradingsymbol": "NIFTY25JANFUT", "quantity": "75",
                                             "product": "NRML"}),
                        (when(SAT, 11, 11), {"transaction_type": "SELL", "quantity": "3"})):
        order = _place(user, now, **params)
        key = f"{params.get('exchange', 'NSE')}:{params.get('tradingsymbol', 'INFY')}"
        # Small orders: one trade at the best price the quote's depth shows on the other side.
        side = "sell" if params.get("transaction_type", "BUY") == "BUY" else "buy"
        quoted = selectors.quote_payload(keys=[key], now=now)[key]["depth"][side][0]["price"]
        assert order.status == "COMPLETE" and order.average_price == Decimal(str(quoted))


@pytest.mark.django_db
def test_holdings_and_positions_show_the_quote_and_a_coherent_day_change_on_a_weekend(always_open):
    user = paper_user_create(now=when(FRI, 20), starting_cash=Decimal("2000000"),
                             holdings=[StartingHolding("NSE:INFY", 10, Decimal("1400"))])
    _place(user, when(FRI, 20), exchange="NFO", tradingsymbol="NIFTY25JANFUT", quantity="75", product="NRML")
    seen = set()
    for now in (when(SAT, 10), when(SAT, 16, 30), when(SUN, 21)):
        book_sync(PaperUser.objects.get(pk=user.pk), now)
        user = PaperUser.objects.get(pk=user.pk)
        quotes = selectors.quote_payload(keys=["NSE:INFY", "NFO:NIFTY25JANFUT"], now=now)
        (holding,) = selectors.holdings_list(user=user, now=now)
        infy = quotes["NSE:INFY"]
        assert holding["last_price"] == infy["last_price"] and holding["close_price"] == infy["ohlc"]["close"]
        assert holding["day_change"] == pytest.approx(infy["net_change"], abs=0.005) and holding["day_change"]
        (future,) = selectors.positions_payload(user=user, now=now)["net"]
        fut = quotes["NFO:NIFTY25JANFUT"]
        assert future["last_price"] == fut["last_price"] and future["close_price"] == fut["ohlc"]["close"]
        assert future["overnight_quantity"] == 75
        assert future["m2m"] == pytest.approx(75 * fut["net_change"], abs=0.01)  # marked from Friday's close
        seen.add(holding["last_price"])
        margins = selectors.margins_payload(user=user, now=now, segment="equity")
        assert margins["utilised"]["m2m_unrealised"] == future["m2m"]
    assert len(seen) == 3
