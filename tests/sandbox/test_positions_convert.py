"""Converting an open position's product, and an order's trades, through the official client over HTTP."""
from __future__ import annotations

import datetime as dt

import pytest
from kiteconnect import exceptions as kex

from sandbox.engine.convert import convertible_quantity
from sandbox.models import Position

# The keys of Kite's official mock order_trades.json.
TRADE_KEYS = {"trade_id", "order_id", "exchange", "tradingsymbol", "instrument_token", "product", "average_price",
              "quantity", "exchange_order_id", "transaction_type", "fill_timestamp", "order_timestamp",
              "exchange_timestamp"}


def buy(kite, symbol: str, quantity: int, product: str) -> str:
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol=symbol, transaction_type="BUY",
                            quantity=quantity, product=product, order_type="MARKET", market_protection=-1)


def net(kite, symbol: str) -> dict[str, int]:
    return {p["product"]: p["quantity"] for p in kite.positions()["net"] if p["tradingsymbol"] == symbol}


def test_an_orders_trades_read_like_kites(sandbox):
    kite = sandbox.connect(holdings=[])
    order_id = buy(kite, "CIPLA", 3, "CNC")
    (trade,) = kite.order_trades(order_id)
    assert set(trade) == TRADE_KEYS and trade["order_id"] == order_id and trade["quantity"] == 3
    assert isinstance(trade["fill_timestamp"], dt.datetime) and len(trade["order_timestamp"]) == 8


def test_part_of_an_intraday_position_becomes_delivery_and_reaches_the_holdings(sandbox):
    kite = sandbox.connect(holdings=[], starting_cash=500000)
    buy(kite, "CIPLA", 10, "MIS")
    assert kite.convert_position(exchange="NSE", tradingsymbol="CIPLA", transaction_type="BUY", position_type="day",
                                 quantity=4, old_product="MIS", new_product="CNC") is True
    assert net(kite, "CIPLA") == {"MIS": 6, "CNC": 4}
    with pytest.raises(kex.InputException, match="is 6"):
        kite.convert_position(exchange="NSE", tradingsymbol="CIPLA", transaction_type="BUY", position_type="day",
                              quantity=7, old_product="MIS", new_product="CNC")
    with pytest.raises(kex.InputException, match="Cannot convert MIS to NRML"):
        kite.convert_position(exchange="NSE", tradingsymbol="CIPLA", transaction_type="BUY", position_type="day",
                              quantity=1, old_product="MIS", new_product="NRML")
    app = kite.sandbox_app
    sandbox.set_clock(sandbox.clock() + dt.timedelta(days=1))  # the MIS part is squared off, the CNC part delivered
    kite.set_access_token(kite.generate_session(sandbox.login(app["api_key"]), api_secret=app["api_secret"])
                          ["access_token"])
    (holding,) = kite.holdings()
    assert holding["tradingsymbol"] == "CIPLA" and holding["quantity"] == 4


def test_a_conversion_the_funds_do_not_cover_is_refused(sandbox):
    kite = sandbox.connect(holdings=[], starting_cash=30000)
    last = kite.ltp("NSE:CIPLA")["NSE:CIPLA"]["last_price"]
    quantity = int(30000 / (last * 0.2) * 0.9)  # affordable at MIS margin, far beyond the cash for delivery
    buy(kite, "CIPLA", quantity, "MIS")
    with pytest.raises(kex.GeneralException, match="Insufficient funds"):
        kite.convert_position(exchange="NSE", tradingsymbol="CIPLA", transaction_type="BUY", position_type="day",
                              quantity=quantity, old_product="MIS", new_product="CNC")
    assert net(kite, "CIPLA") == {"MIS": quantity}


def test_the_convertible_part_is_the_day_or_the_carried_quantity_on_that_side():
    pos = Position(overnight_quantity=5, day_buy_quantity=3, day_sell_quantity=1)  # net 7 long
    assert convertible_quantity(pos, "BUY", "day") == 2 and convertible_quantity(pos, "BUY", "overnight") == 5
    assert convertible_quantity(pos, "SELL", "day") == 0 and convertible_quantity(None, "BUY", "day") == 0
    short = Position(overnight_quantity=-4, day_sell_quantity=2)
    assert convertible_quantity(short, "SELL", "overnight") == 4 and convertible_quantity(short, "SELL", "day") == 2
