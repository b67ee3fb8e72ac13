"""Reads do not lock or rebuild the book, yet still answer after every timed event that is due; and
quotes, built and encoded once a minute, answer what the price model says at that instant."""
from __future__ import annotations

import datetime as dt

import requests

from tests.fixtures.sandbox import TRADING_TIME


def _order(kite, order_id: str) -> dict:
    return next(o for o in kite.orders() if o["order_id"] == order_id)


def test_a_ttl_order_lapses_for_a_read_within_the_minute_it_is_due(sandbox):
    kite = sandbox.connect()
    sandbox.set_clock(TRADING_TIME + dt.timedelta(seconds=10))
    far_below = round(kite.ltp("NSE:ITC")["NSE:ITC"]["last_price"] * 0.5, 1)
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="LIMIT", price=far_below, validity="TTL",
                                validity_ttl=1)
    assert _order(kite, order_id)["status"] == "OPEN"
    sandbox.set_clock(advance_seconds=40)  # 11:00:50: the same minute, not yet lapsed
    assert _order(kite, order_id)["status"] == "OPEN"
    sandbox.set_clock(advance_seconds=15)  # 11:01:05: a new minute, still inside the TTL (11:01:10)
    assert _order(kite, order_id)["status"] == "OPEN"
    sandbox.set_clock(advance_seconds=10)  # 11:01:15: the same minute as the last read, past the TTL
    lapsed = _order(kite, order_id)
    assert lapsed["status"] == "CANCELLED" and "TTL" in lapsed["status_message"]


def test_an_mis_position_is_squared_off_before_a_read_after_the_square_off_time(sandbox):
    kite = sandbox.connect()
    kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY", quantity=2,
                     product="MIS", order_type="MARKET", market_protection=-1)
    assert [p["quantity"] for p in kite.positions()["net"] if p["product"] == "MIS"] == [2]
    sandbox.set_clock(TRADING_TIME.replace(hour=15, minute=21))
    assert [p["quantity"] for p in kite.positions()["net"] if p["product"] == "MIS"] == [0]


def test_a_new_day_settles_before_holdings_answer(sandbox):
    kite = sandbox.connect(holdings=[])
    kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY", quantity=3,
                     product="CNC", order_type="MARKET", market_protection=-1)
    assert kite.holdings() == []
    sandbox.set_clock(TRADING_TIME + dt.timedelta(hours=18))  # 05:00 next day: the session lives till 06:00
    held = {h["tradingsymbol"]: h for h in kite.holdings()}
    assert held["ITC"]["quantity"] == 3 and held["ITC"]["t1_quantity"] == 3


def test_quotes_in_one_minute_agree_and_a_price_move_shows_at_once(sandbox):
    kite = sandbox.connect()
    keys = ["NSE:INFY", "NSE:ITC", "BSE:INFY", "NSE:NIFTY 50"]
    first = kite.quote(keys)
    sandbox.set_clock(advance_seconds=20)
    second = kite.quote(keys)
    for key in keys:
        assert first[key]["timestamp"] != second[key]["timestamp"]
        assert {**first[key], "timestamp": None} == {**second[key], "timestamp": None}
        assert second[key]["last_price"] == kite.ltp(key)[key]["last_price"]
    moved = sandbox.move_price("NSE:INFY", 5)
    after = kite.quote(keys)
    assert after["NSE:INFY"]["last_price"] == moved != first["NSE:INFY"]["last_price"]
    assert after["BSE:INFY"]["last_price"] != first["BSE:INFY"]["last_price"]  # the listings move together
    assert after["NSE:ITC"] | {"timestamp": None} == second["NSE:ITC"] | {"timestamp": None}


def test_a_quote_body_is_kites_envelope_and_takes_tokens_and_repeats(sandbox):
    kite = sandbox.connect()
    answer = requests.get(f"{sandbox.url}/quote", params=[("i", "NSE:INFY"), ("i", "408065"), ("i", "NSE:INFY"),
                                                          ("i", "NSE:NOSUCH")],
                          headers={"Authorization": f"token {kite.api_key}:{kite.access_token}",
                                   "X-Kite-Version": "3"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    payload = answer.json()
    assert payload["status"] == "success" and set(payload["data"]) == {"NSE:INFY", "408065"}
    assert payload["data"]["408065"]["instrument_token"] == 408065
