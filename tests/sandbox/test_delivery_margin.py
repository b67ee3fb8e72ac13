"""Sale proceeds of holdings through the official client: usable for trading the same day but 20%
held back (`utilised.delivery`), `net` up by the other 80%, `debits` never below 0, and the whole
credited to the cash at the settlement."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.fixtures.sandbox import TRADING_TIME

HOLDING = [{"instrument": "NSE:INFY", "quantity": 100, "average_price": 1000}]


def sell_cnc(kite, quantity: int, symbol: str = "INFY") -> str:
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol=symbol, transaction_type="SELL",
                            quantity=quantity, product="CNC", order_type="MARKET", market_protection=-1)


def buy_cnc(kite, quantity: int, symbol: str = "INFY") -> str:
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol=symbol, transaction_type="BUY",
                            quantity=quantity, product="CNC", order_type="MARKET", market_protection=-1)


def proceeds_and_charges(kite, order_id: str) -> tuple[float, float]:
    trades = kite.order_trades(order_id)
    value = sum(t["average_price"] * t["quantity"] for t in trades)
    order = next(o for o in kite.orders() if o["order_id"] == order_id)
    (note,) = kite.get_virtual_contract_note([{
        "order_id": order_id, "exchange": "NSE", "tradingsymbol": order["tradingsymbol"],
        "transaction_type": "SELL", "variety": "regular", "product": "CNC", "order_type": "MARKET",
        "quantity": order["filled_quantity"], "average_price": order["average_price"]}])
    return value, note["charges"]["total"]


def test_selling_holdings_raises_net_by_80_percent_and_holds_20_percent_as_delivery(sandbox):
    kite = sandbox.connect(starting_cash=50_000, holdings=HOLDING)
    before = kite.margins("equity")
    order_id = sell_cnc(kite, 50)
    proceeds, charges = proceeds_and_charges(kite, order_id)
    after = kite.margins("equity")
    assert after["utilised"]["holding_sales"] == pytest.approx(proceeds, abs=0.01)
    assert after["utilised"]["delivery"] == pytest.approx(0.2 * proceeds, abs=0.01)
    assert after["utilised"]["debits"] == 0  # the credit shows in net, never as negative debits
    assert after["net"] - before["net"] == pytest.approx(0.8 * proceeds - charges, abs=0.05)
    assert after["available"]["live_balance"] == after["net"]


def test_the_80_percent_is_usable_for_a_buy_the_cash_alone_does_not_cover(sandbox):
    kite = sandbox.connect(starting_cash=10_000, holdings=HOLDING)
    refused = buy_cnc(kite, 20, "TCS")
    assert next(o for o in kite.orders() if o["order_id"] == refused)["status"] == "REJECTED"
    sell_cnc(kite, 100)
    taken = buy_cnc(kite, 20, "TCS")
    assert next(o for o in kite.orders() if o["order_id"] == taken)["status"] == "COMPLETE"


def test_selling_what_was_bought_today_holds_nothing_back(sandbox):
    kite = sandbox.connect(starting_cash=100_000, holdings=[])
    buy_cnc(kite, 10)
    sell_cnc(kite, 10)
    assert kite.margins("equity")["utilised"]["delivery"] == 0


def test_the_hold_ends_at_the_settlement_and_the_whole_sale_is_cash(sandbox):
    kite = sandbox.connect(starting_cash=50_000, holdings=HOLDING)
    order_id = sell_cnc(kite, 50)
    proceeds, charges = proceeds_and_charges(kite, order_id)
    sandbox.set_clock(TRADING_TIME.replace(hour=4) + dt.timedelta(days=1))  # before the 06:00 token flush
    margins = kite.margins()["equity"]
    assert margins["utilised"]["delivery"] == 0 and margins["utilised"]["holding_sales"] == 0
    assert margins["available"]["opening_balance"] == pytest.approx(50_000 + proceeds - charges, abs=0.05)
