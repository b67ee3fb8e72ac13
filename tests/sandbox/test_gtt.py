"""GTT triggers through the official client over HTTP: placed at any hour, fired by the price path
into LIMIT orders, modified, deleted, capped at 250 active, CNC/NRML only."""
from __future__ import annotations

import datetime as dt

import pytest
from kiteconnect import exceptions as kex

from sandbox.engine.gtt import GTT_PRODUCTS, MAX_ACTIVE


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def ltp(kite, key: str) -> float:
    return kite.ltp(key)[key]["last_price"]


def relogin(sandbox, kite) -> None:
    """A new day's session (tokens end at 06:00)."""
    app = kite.sandbox_app
    kite.set_access_token(kite.generate_session(sandbox.login(app["api_key"]), api_secret=app["api_secret"])
                          ["access_token"])


def leg(transaction_type: str, price: float, quantity: int = 1, product: str = "CNC", symbol: str = "ITC") -> dict:
    return {"exchange": "NSE", "tradingsymbol": symbol, "transaction_type": transaction_type, "quantity": quantity,
            "order_type": "LIMIT", "product": product, "price": price}


def place_single(kite, symbol: str, trigger: float, last: float, order: dict) -> int:
    answer = kite.place_gtt(trigger_type=kite.GTT_TYPE_SINGLE, tradingsymbol=symbol, exchange="NSE",
                            trigger_values=[trigger], last_price=last, orders=[order])
    return answer["trigger_id"]


def test_a_single_trigger_fires_when_the_price_crosses_it_and_places_its_limit_order(sandbox):
    kite = sandbox.connect(holdings=[])
    last = ltp(kite, "NSE:ITC")
    trigger, price = tick(last * 0.97), tick(last * 0.975)
    trigger_id = place_single(kite, "ITC", trigger, last, leg("BUY", price, 2))
    placed = kite.get_gtt(trigger_id)
    assert placed["status"] == "active" and placed["type"] == "single" and placed["orders"][0]["result"] is None
    assert placed["condition"]["trigger_values"] == [trigger] and placed["condition"]["instrument_token"]
    created = dt.datetime.fromisoformat(placed["created_at"])
    assert dt.datetime.fromisoformat(placed["expires_at"]) - created == dt.timedelta(days=365)

    sandbox.move_price("NSE:ITC", -1)  # not far enough
    assert kite.get_gtt(trigger_id)["status"] == "active" and kite.orders() == []

    now_price = sandbox.move_price("NSE:ITC", -4)
    fired = kite.get_gtt(trigger_id)
    assert fired["status"] == "triggered"
    result = fired["orders"][0]["result"]
    assert result["order_result"]["status"] == "success" and result["triggered_at"] == now_price
    assert result["order_type"] == "LIMIT" and result["price"] == price and result["quantity"] == 2
    assert f'"gtt":{trigger_id}' in result["meta"]
    (order,) = kite.orders()
    assert order["order_id"] == result["order_result"]["order_id"]
    assert (order["order_type"], order["product"], order["price"], order["quantity"]) == ("LIMIT", "CNC", price, 2)
    # The market is below the limit: the order takes the best ask at once (2 shares, one trade).
    best_ask = kite.quote("NSE:ITC")["NSE:ITC"]["depth"]["sell"][0]["price"]
    assert best_ask <= price and best_ask - now_price in (0, pytest.approx(0.05))
    assert order["status"] == "COMPLETE" and order["average_price"] == best_ask


def test_an_oco_fires_its_upper_leg_only(sandbox):
    kite = sandbox.connect(holdings=[{"instrument": "NSE:WIPRO", "quantity": 10}])
    last = ltp(kite, "NSE:WIPRO")
    lower, upper = tick(last * 0.95), tick(last * 1.05)
    trigger_id = kite.place_gtt(
        trigger_type=kite.GTT_TYPE_OCO, tradingsymbol="WIPRO", exchange="NSE", trigger_values=[lower, upper],
        last_price=last, orders=[leg("SELL", lower, 10, symbol="WIPRO"), leg("SELL", upper, 10, symbol="WIPRO")],
    )["trigger_id"]
    sandbox.move_price("NSE:WIPRO", 6)
    fired = kite.get_gtt(trigger_id)
    assert fired["status"] == "triggered" and fired["type"] == "two-leg"
    assert fired["orders"][0]["result"] is None
    order_id = fired["orders"][1]["result"]["order_result"]["order_id"]
    sandbox.move_price("NSE:WIPRO", -15)  # now through the lower value too: a spent trigger places nothing
    (order,) = kite.orders()
    assert order["order_id"] == order_id and order["transaction_type"] == "SELL" and order["status"] == "COMPLETE"
    assert kite.get_gtt(trigger_id)["orders"][0]["result"] is None


def test_modify_changes_an_active_trigger_and_delete_takes_it_out_of_the_book(sandbox):
    kite = sandbox.connect(holdings=[])
    last = ltp(kite, "NSE:ITC")
    trigger_id = place_single(kite, "ITC", tick(last * 0.9), last, leg("BUY", tick(last * 0.9)))
    new_trigger = tick(last * 0.8)
    answer = kite.modify_gtt(trigger_id=trigger_id, trigger_type=kite.GTT_TYPE_SINGLE, tradingsymbol="ITC",
                             exchange="NSE", trigger_values=[new_trigger], last_price=last,
                             orders=[leg("BUY", new_trigger, 3)])
    assert answer == {"trigger_id": trigger_id}
    modified = kite.get_gtt(trigger_id)
    assert modified["condition"]["trigger_values"] == [new_trigger] and modified["orders"][0]["quantity"] == 3
    assert modified["status"] == "active"
    assert kite.delete_gtt(trigger_id) == {"trigger_id": trigger_id}
    assert kite.get_gtt(trigger_id)["status"] == "deleted" and kite.get_gtts() == []
    with pytest.raises(kex.InputException, match="active"):
        kite.modify_gtt(trigger_id=trigger_id, trigger_type=kite.GTT_TYPE_SINGLE, tradingsymbol="ITC",
                        exchange="NSE", trigger_values=[new_trigger], last_price=last,
                        orders=[leg("BUY", new_trigger)])


def test_at_most_250_triggers_are_active(sandbox):
    kite = sandbox.connect(holdings=[])
    last = ltp(kite, "NSE:COALINDIA")
    order = leg("BUY", tick(last * 0.5), symbol="COALINDIA")
    ids = [place_single(kite, "COALINDIA", tick(last * 0.5), last, order) for _ in range(MAX_ACTIVE)]
    with pytest.raises(kex.InputException, match="250"):
        place_single(kite, "COALINDIA", tick(last * 0.5), last, order)
    assert len(kite.get_gtts()) == MAX_ACTIVE
    kite.delete_gtt(ids[0])
    assert place_single(kite, "COALINDIA", tick(last * 0.5), last, order)


def test_a_gtt_is_cnc_for_equity_and_must_be_well_formed(sandbox):
    kite = sandbox.connect(holdings=[])
    last = ltp(kite, "NSE:ITC")
    for product in ("MIS", "NRML"):
        with pytest.raises(kex.InputException) as refused:
            place_single(kite, "ITC", tick(last * 0.9), last, leg("BUY", tick(last * 0.9), product=product))
        assert str(refused.value) == GTT_PRODUCTS and refused.value.code == 400
    with pytest.raises(kex.InputException, match="between"):  # the last price must lie between the two values
        kite.place_gtt(trigger_type=kite.GTT_TYPE_OCO, tradingsymbol="ITC", exchange="NSE",
                       trigger_values=[tick(last * 1.1), tick(last * 1.2)], last_price=last,
                       orders=[leg("SELL", tick(last * 1.1)), leg("SELL", tick(last * 1.2))])
    with pytest.raises(kex.InputException, match="lower"):
        kite.place_gtt(trigger_type=kite.GTT_TYPE_OCO, tradingsymbol="ITC", exchange="NSE",
                       trigger_values=[tick(last * 1.1), tick(last * 0.9)], last_price=last,
                       orders=[leg("SELL", tick(last * 1.1)), leg("SELL", tick(last * 0.9))])
    with pytest.raises(kex.InputException, match="LIMIT"):
        place_single(kite, "ITC", tick(last * 0.9), last, {**leg("BUY", 0), "order_type": "MARKET"})
    with pytest.raises(kex.InputException, match="last_price"):
        kite._post("gtt.place", params={"type": "single", "orders": "[]",
                                        "condition": '{"exchange": "NSE", "tradingsymbol": "ITC", '
                                                     '"trigger_values": [100]}'})
    assert kite.get_gtts() == []


def test_a_gtt_placed_while_the_market_is_closed_waits_for_the_next_session(sandbox):
    saturday = sandbox.set_clock(sandbox.clock() + dt.timedelta(days=3))
    assert saturday.weekday() == 5
    kite = sandbox.connect(holdings=[])
    last = ltp(kite, "NSE:BEL")
    rejected = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="BEL", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="LIMIT", price=tick(last))
    assert "Use GTT" in kite.order_history(rejected)[-1]["status_message"]  # what Kite says to an order now...
    trigger_id = place_single(kite, "BEL", tick(last * 1.02), last, leg("BUY", tick(last * 1.03), symbol="BEL"))
    sandbox.move_price("NSE:BEL", 5)  # ... and a GTT is the way: it waits, closed markets fire nothing
    assert kite.get_gtt(trigger_id)["status"] == "active"
    sandbox.set_clock(saturday + dt.timedelta(days=2, hours=-1))  # Monday 10:00
    relogin(sandbox, kite)
    fired = kite.get_gtt(trigger_id)
    assert fired["status"] == "triggered"
    fired_at = dt.datetime.fromisoformat(fired["orders"][0]["result"]["timestamp"])
    assert fired_at.date() == saturday.date() + dt.timedelta(days=2) and fired_at.time() < dt.time(9, 20)
