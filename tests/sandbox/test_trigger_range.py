"""`GET /instruments/trigger_range/{buy|sell}` through the official client: Kite's mock shape
({"instrument_token": 0, "lower", "upper"} per instrument asked for), and the range is the one a
cover order's stop-loss is held to."""
from __future__ import annotations

import pytest
from kiteconnect import exceptions as kex


def test_trigger_range_answers_in_the_mocks_shape_around_the_last_price(sandbox):
    kite = sandbox.connect()
    last = kite.ltp("NSE:INFY", "NSE:RELIANCE")
    for side in (kite.TRANSACTION_TYPE_BUY, kite.TRANSACTION_TYPE_SELL):
        ranges = kite.trigger_range(side, "NSE:INFY", "NSE:RELIANCE")
        assert set(ranges) == {"NSE:INFY", "NSE:RELIANCE"}
        for key, item in ranges.items():
            assert set(item) == {"instrument_token", "lower", "upper"} and item["instrument_token"] == 0
            assert item["lower"] < last[key]["last_price"] < item["upper"]
    # A list, as pykiteconnect also allows.
    assert kite.trigger_range("buy", ["NSE:INFY"]) == kite.trigger_range("buy", "NSE:INFY")


def test_a_cover_order_stop_loss_outside_the_range_is_refused_and_inside_it_is_taken(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    item = kite.trigger_range("buy", "NSE:INFY")["NSE:INFY"]
    common = {"variety": "co", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
              "quantity": 1, "product": "CO", "order_type": "MARKET", "market_protection": -1}
    with pytest.raises(kex.InputException, match="out of the range"):
        kite.place_order(**common, trigger_price=round(item["lower"] - 1, 1))
    assert kite.place_order(**common, trigger_price=item["lower"])


def test_unknown_instruments_are_left_out_and_a_bad_side_is_refused(sandbox):
    kite = sandbox.connect()
    assert list(kite.trigger_range("buy", "NSE:INFY", "NSE:NOSUCHTHING")) == ["NSE:INFY"]
    with pytest.raises(kex.InputException, match="use buy or sell"):
        kite.trigger_range("hold", "NSE:INFY")
    with pytest.raises(kex.InputException, match="Missing `i`"):
        kite.trigger_range("buy")
