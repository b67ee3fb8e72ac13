"""The instrument universe, expiries, prices and the position arithmetic: pure logic, no server."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest

from sandbox import accounting as acc
from sandbox import pricing
from sandbox.clock import IST, at, next_open_after, token_expiry
from sandbox.ratelimit import RateLimiter
from sandbox.selectors import CSV_HEADER, instruments_csv
from sandbox.universe import (
    decode_derivative,
    instrument_by_key,
    instrument_by_token,
    monthly_expiry,
    universe_for,
    weekly_expiry,
)

WEDNESDAY = dt.date(2025, 1, 15)


def test_universe_lists_nifty500_on_nse_with_bse_listings_and_the_main_indices():
    universe = universe_for(WEDNESDAY)
    nse = [i for i in universe.instruments if i.exchange == "NSE" and i.segment == "NSE"]
    bse = [i for i in universe.instruments if i.exchange == "BSE" and i.segment == "BSE"]
    # The NIFTY 500 on NSE; BSE lists all but BSE Ltd and CDSL, which trade on NSE only.
    assert (len(nse), len(bse)) == (500, 498)
    assert {i.tradingsymbol for i in bse} <= {i.tradingsymbol for i in nse}
    infy = universe.by_key["NSE:INFY"]
    assert (infy.instrument_token, infy.isin, infy.tick_size, infy.lot_size) == (408065, "INE009A01021", 0.05, 1)
    for key in ("NSE:NIFTY 50", "NSE:NIFTY BANK", "BSE:SENSEX"):
        assert universe.by_key[key].segment == "INDICES"


def test_index_expiries_are_the_last_tuesday_and_the_next_tuesday():
    assert monthly_expiry(2025, 1) == dt.date(2025, 1, 28)
    assert monthly_expiry(2025, 9) == dt.date(2025, 9, 30)
    assert weekly_expiry(WEDNESDAY) == dt.date(2025, 1, 21)
    assert weekly_expiry(dt.date(2025, 1, 21)) == dt.date(2025, 1, 21)  # expiry day itself still trades


def test_futures_roll_with_the_clock_so_they_never_go_stale():
    january = {i.tradingsymbol for i in universe_for(WEDNESDAY).instruments if i.is_future}
    assert {"NIFTY25JANFUT", "NIFTY25FEBFUT", "NIFTY25MARFUT", "BANKNIFTY25JANFUT"} <= january
    after_expiry = {i.tradingsymbol for i in universe_for(dt.date(2025, 1, 29)).instruments if i.is_future}
    assert "NIFTY25JANFUT" not in after_expiry and "NIFTY25APRFUT" in after_expiry
    far_future = universe_for(dt.date(2031, 6, 4))
    assert all(i.expiry >= dt.date(2031, 6, 4) for i in far_future.instruments if i.is_derivative)


def test_option_symbols_follow_kite_weekly_and_monthly_formats_with_lot_sizes():
    universe = universe_for(WEDNESDAY)
    weekly = universe.by_key["NFO:NIFTY2512124500CE"]
    monthly = universe.by_key["NFO:NIFTY25JAN24500PE"]
    assert (weekly.expiry, weekly.strike, weekly.lot_size, weekly.segment) == (dt.date(2025, 1, 21), 24500.0, 75,
                                                                             "NFO-OPT")
    assert monthly.expiry == dt.date(2025, 1, 28)
    assert universe.by_key["NFO:BANKNIFTY25JANFUT"].lot_size == 35


def test_a_derivative_is_still_known_by_its_token_after_it_expired():
    contract = instrument_by_key("NFO:NIFTY25JANFUT", WEDNESDAY)
    assert instrument_by_key("NFO:NIFTY25JANFUT", dt.date(2025, 3, 3)) is None
    assert decode_derivative(contract.instrument_token) == contract
    assert instrument_by_token(contract.instrument_token) == contract
    assert instrument_by_token(123456789 * 256 + 2) is None  # not a contract the encoding can produce
    tokens = [i.instrument_token for i in universe_for(WEDNESDAY).instruments]
    assert len(tokens) == len(set(tokens))


def test_instrument_csv_has_kites_header_and_numeric_columns():
    now = at(WEDNESDAY, dt.time(11, 0))
    rows = [line.split(",") for line in instruments_csv(exchange=None, now=now).decode().splitlines()]
    assert rows[0] == CSV_HEADER
    for row in rows[1:]:
        int(row[0]), float(row[4]), float(row[6]), float(row[7]), int(row[8])
        assert row[5] == "" or dt.date.fromisoformat(row[5])
    nfo_only = instruments_csv(exchange="NFO", now=now).decode().splitlines()[1:]
    assert nfo_only and all(line.endswith(",NFO") for line in nfo_only)


def test_prices_are_deterministic_across_processes():
    moment = at(WEDNESDAY, dt.time(11, 0))
    here = pricing.price_at(instrument_by_key("NSE:INFY", WEDNESDAY), moment)
    code = ("import datetime as dt, django, os; os.environ['DJANGO_SETTINGS_MODULE']='sandbox.settings'; "
            "django.setup(); from sandbox import pricing, universe, clock; d=dt.date(2025,1,15); "
            "print(pricing.price_at(universe.instrument_by_key('NSE:INFY', d), clock.at(d, dt.time(11,0))))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert float(there) == here


def test_prices_sit_on_the_tick_and_stay_realistic_for_years():
    infy = instrument_by_key("NSE:INFY", WEDNESDAY)
    closes = [pricing.closing_price(infy, WEDNESDAY - dt.timedelta(days=d)) for d in range(0, 3000, 7)]
    assert all(abs(round(c / 0.05) - c / 0.05) < 1e-6 for c in closes)
    assert 0.6 * infy.base_price < min(closes) and max(closes) < 1.6 * infy.base_price
    daily = [abs(b / a - 1) for a, b in zip(closes, closes[1:], strict=False)]
    assert max(daily) < 0.2  # a week's move, never a crash to zero


def test_intraday_path_runs_from_open_to_close_and_is_flat_outside_hours():
    infy = instrument_by_key("NSE:INFY", WEDNESDAY)
    opening = pricing.price_at(infy, at(WEDNESDAY, dt.time(9, 15)))
    close = pricing.closing_price(infy, WEDNESDAY)
    assert pricing.price_at(infy, at(WEDNESDAY, dt.time(18, 0))) == close
    assert pricing.price_at(infy, at(dt.date(2025, 1, 18), dt.time(12, 0))) == pricing.closing_price(
        infy, dt.date(2025, 1, 17))  # Saturday shows Friday's close
    assert pricing.price_at(infy, at(WEDNESDAY, dt.time(8, 0))) == pricing.previous_close(infy, WEDNESDAY)
    minutes = {pricing.price_at(infy, at(WEDNESDAY, dt.time(10, m))) for m in range(0, 60, 5)}
    assert len(minutes) > 3 and opening > 0


def test_option_prices_respect_put_call_parity():
    spot, strike, years = 24000.0, 24500.0, 30 / 365
    call = pricing.black_scholes("CE", spot, strike, years, 0.14)
    put = pricing.black_scholes("PE", spot, strike, years, 0.14)
    assert call - put == pytest.approx(spot - strike * 2.718281828459045 ** (-0.07 * years), rel=1e-9)
    assert pricing.black_scholes("CE", spot, strike, 0, 0.14) == 0.0
    assert pricing.black_scholes("PE", spot, strike, 0, 0.14) == 500.0


def test_access_tokens_expire_at_the_next_six_oclock_flush():
    def ist(day: int, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
        return dt.datetime(2025, 1, day, hh, mm, ss, tzinfo=IST)

    assert token_expiry(ist(15, 10)) == ist(16, 6)  # a morning login lasts until tomorrow's flush
    assert token_expiry(ist(15, 23, 30)) == ist(16, 6)
    assert token_expiry(ist(15, 3)) == ist(15, 6)  # before the flush: it dies at 06:00 the same morning
    assert token_expiry(ist(15, 5, 59, 59)) == ist(15, 6)
    assert token_expiry(ist(15, 6)) == ist(16, 6)  # the flush has happened: the next one
    assert token_expiry(dt.datetime(2025, 1, 14, 21, 30, tzinfo=dt.UTC)) == ist(15, 6)  # 03:00 IST, given in UTC


def test_the_next_open_skips_the_weekend():
    assert next_open_after(dt.datetime(2025, 1, 17, 16, 0, tzinfo=IST)) == at(dt.date(2025, 1, 20), dt.time(9, 15))


def test_position_arithmetic_matches_kites_own_example():
    # positions.json, the GOLDGUINEA day position: bought 1 at 23388, sold 4 at 23340, last price 23355.
    legs = acc.Legs(1, Decimal("23388"), Decimal("23388"), 4, Decimal("93360"), Decimal("93360"))
    figures = acc.position_figures(legs, Decimal("23355"))
    assert figures["quantity"] == -3
    assert figures["average_price"] == Decimal("23340")
    assert figures["value"] == Decimal("69972")
    assert figures["pnl"] == Decimal("-93")
    assert figures["realised"] == Decimal("-48") and figures["unrealised"] == Decimal("-45")


def test_m2m_splits_into_realised_and_unrealised_that_add_up():
    legs = acc.Legs(10, Decimal("1000"), Decimal("1000"), 4, Decimal("440"), Decimal("440"))
    realised, unrealised = acc.m2m_split(legs, Decimal("105"))
    assert realised == Decimal("40") and unrealised == Decimal("30")


def test_order_margin_charges_only_what_an_order_adds():
    fut = instrument_by_key("NFO:NIFTY25JANFUT", WEDNESDAY)
    infy = instrument_by_key("NSE:INFY", WEDNESDAY)
    assert acc.order_margin(infy, "CNC", "BUY", 10, Decimal("1500"), 0, Decimal(0)) == Decimal("15000")
    assert acc.order_margin(infy, "MIS", "BUY", 10, Decimal("1500"), 0, Decimal(0)) == Decimal("3000")
    assert acc.order_margin(infy, "MIS", "SELL", 10, Decimal("1500"), 10, Decimal(0)) == 0  # closing
    assert acc.order_margin(fut, "NRML", "BUY", 75, Decimal("24000"), -75, Decimal(0)) == 0
    # from 75 short to 150 long: the position's blocked margin grows by one lot's worth
    assert acc.order_margin(fut, "NRML", "BUY", 225, Decimal("24000"), -75, Decimal(0)) == Decimal("0.13") * 75 * 24000


def test_rate_limiter_allows_kites_rates_per_key_and_category():
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert limiter.allow("k", "quote") and not limiter.allow("k", "quote")
    assert limiter.allow("other-key", "quote")  # per api_key
    assert all(limiter.allow("k", "historical") for _ in range(3)) and not limiter.allow("k", "historical")
    assert all(limiter.allow("k", "others") for _ in range(10)) and not limiter.allow("k", "others")
    now[0] += 1.0
    assert limiter.allow("k", "quote") and limiter.allow("k", "others")


def test_rate_limiter_caps_orders_at_200_a_minute():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    placed = 0
    for second in range(30):
        now[0] = float(second)
        placed += sum(limiter.allow("k", "orders") for _ in range(12))
    assert placed == 200  # 10 a second for 20 seconds, then the minute's budget is spent
    now[0] = 60.5
    assert limiter.allow("k", "orders")
