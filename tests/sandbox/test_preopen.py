"""The pre-open session of NSE equities (09:00-09:08 IST) through the official client: orders are
collected (OPEN, nothing trades), at 09:08 one equilibrium price is found and the orders it
satisfies fill at it; the rest wait for the normal session from 09:15."""
from __future__ import annotations

from tests.fixtures.sandbox import TRADING_TIME


def at(hh: int, mm: int):
    return TRADING_TIME.replace(hour=hh, minute=mm)


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def place(kite, side: str, quantity: int, order_type: str = "LIMIT", price: float | None = None,
          exchange: str = "NSE", symbol: str = "INFY", **extra) -> str:
    args = {"price": price} if price is not None else {"market_protection": -1}
    return kite.place_order(variety="regular", exchange=exchange, tradingsymbol=symbol, transaction_type=side,
                            quantity=quantity, product="CNC", order_type=order_type, **args, **extra)


def test_preopen_orders_are_collected_then_fill_at_one_price_at_0908(sandbox):
    sandbox.set_clock(at(9, 2))
    kite = sandbox.connect(starting_cash=1_000_000, holdings=[{"instrument": "NSE:INFY", "quantity": 50}])
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    buy = place(kite, "BUY", 10, price=tick(last * 1.03))
    sell = place(kite, "SELL", 5, price=tick(last * 0.97))
    market = place(kite, "BUY", 3, order_type="MARKET")
    far = place(kite, "BUY", 7, price=tick(last * 0.90))
    orders = {o["order_id"]: o for o in kite.orders()}
    assert all(orders[i]["status"] == "OPEN" and orders[i]["filled_quantity"] == 0 for i in (buy, sell, market, far))
    assert kite.trades() == []

    sandbox.set_clock(at(9, 10))
    orders = {o["order_id"]: o for o in kite.orders()}
    filled = [orders[i] for i in (buy, sell, market)]
    assert all(o["status"] == "COMPLETE" for o in filled)
    prices = {o["average_price"] for o in filled}
    assert len(prices) == 1  # one equilibrium price for everyone
    (equilibrium,) = prices
    assert orders[far]["status"] == "OPEN" and orders[far]["filled_quantity"] == 0
    trades = kite.trades()
    assert {t["average_price"] for t in trades} == {equilibrium}
    assert {t["fill_timestamp"].strftime("%H:%M") for t in trades} == {"09:08"}

    sandbox.set_clock(at(9, 20))
    assert kite.ohlc("NSE:INFY")["NSE:INFY"]["ohlc"]["open"] == equilibrium  # the discovered price opens the day


def test_outside_the_order_entry_or_nse_equity_a_regular_order_is_still_refused(sandbox):
    sandbox.set_clock(at(9, 2))
    kite = sandbox.connect(starting_cash=1_000_000)
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    stop = place(kite, "BUY", 1, order_type="SL", price=tick(last * 1.02), trigger_price=tick(last * 1.01))
    bse = place(kite, "BUY", 1, price=tick(last), exchange="BSE")
    sandbox.set_clock(at(9, 10))
    late = place(kite, "BUY", 1, price=tick(last))
    orders = {o["order_id"]: o for o in kite.orders()}
    for order_id in (stop, bse, late):
        assert orders[order_id]["status"] == "REJECTED"
        assert orders[order_id]["status_message"].startswith("Markets are closed right now")


def test_a_preopen_order_modified_before_0908_does_not_trade_until_the_matching(sandbox):
    sandbox.set_clock(at(9, 1))
    kite = sandbox.connect(starting_cash=1_000_000)
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    order_id = place(kite, "BUY", 4, price=tick(last * 0.90))
    sandbox.set_clock(at(9, 4))
    kite.modify_order("regular", order_id, price=tick(last * 1.05))
    order = next(o for o in kite.orders() if o["order_id"] == order_id)
    assert (order["status"], order["filled_quantity"], order["price"]) == ("OPEN", 0, tick(last * 1.05))
    sandbox.set_clock(at(9, 9))
    order = next(o for o in kite.orders() if o["order_id"] == order_id)
    assert order["status"] == "COMPLETE" and kite.trades()[0]["fill_timestamp"].strftime("%H:%M") == "09:08"
