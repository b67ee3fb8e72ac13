"""The intraday square-off through the official client over HTTP: fresh MIS orders are refused
after it (equity 15:20, F&O 15:25, Zerodha's published times) and a squared-off position shows so."""
from __future__ import annotations

import datetime as dt

from sandbox.engine.margins import MIS_BLOCKED_RAW
from tests.fixtures.sandbox import TRADING_TIME


def at(hh: int, mm: int) -> dt.datetime:
    return TRADING_TIME.replace(hour=hh, minute=mm)


def mis(kite, exchange: str = "NSE", symbol: str = "INFY", quantity: int = 1) -> dict:
    order_id = kite.place_order(variety="regular", exchange=exchange, tradingsymbol=symbol, transaction_type="BUY",
                                quantity=quantity, product="MIS", order_type="MARKET", market_protection=-1)
    return next(o for o in kite.orders() if o["order_id"] == order_id)


def nifty_future(kite) -> str:
    futures = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "FUT"]
    return min(futures, key=lambda i: i["expiry"])["tradingsymbol"]


def test_an_equity_mis_order_after_1520_is_rejected_and_cnc_is_not(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    sandbox.set_clock(at(15, 19))
    assert mis(kite)["status"] == "COMPLETE"
    sandbox.set_clock(at(15, 21))
    refused = mis(kite)
    assert refused["status"] == "REJECTED" and refused["filled_quantity"] == 0
    assert "not allowed after the intraday auto square-off time (15:20)" in refused["status_message"]
    assert refused["status_message_raw"] == MIS_BLOCKED_RAW
    cnc = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                           quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    assert next(o for o in kite.orders() if o["order_id"] == cnc)["status"] == "COMPLETE"


def test_the_position_squared_off_at_1520_shows_the_system_order_and_is_flat(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    sandbox.set_clock(at(15, 0))
    mis(kite, quantity=5)
    sandbox.set_clock(at(15, 21))
    (auto,) = [o for o in kite.orders() if o["tag"] == "autosquareoff"]
    assert (auto["transaction_type"], auto["quantity"], auto["status"]) == ("SELL", 5, "COMPLETE")
    assert auto["order_timestamp"] == at(15, 20).replace(tzinfo=None)
    (position,) = [p for p in kite.positions()["net"] if p["product"] == "MIS"]
    assert position["quantity"] == 0 and position["sell_quantity"] == 5


def test_fo_mis_is_open_until_1525_and_squared_off_then(sandbox):
    kite = sandbox.connect(starting_cash=5_000_000)
    future = nifty_future(kite)
    sandbox.set_clock(at(15, 22))
    assert mis(kite, "NFO", future, 75)["status"] == "COMPLETE"  # F&O square-off is at 15:25
    assert [o for o in kite.orders() if o["tag"] == "autosquareoff"] == []
    sandbox.set_clock(at(15, 26))
    assert "(15:25)" in mis(kite, "NFO", future, 75)["status_message"]
    (auto,) = [o for o in kite.orders() if o["tag"] == "autosquareoff"]
    assert auto["tradingsymbol"] == future and auto["order_timestamp"] == at(15, 25).replace(tzinfo=None)
