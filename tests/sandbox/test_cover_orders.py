"""Cover orders (`variety=co`) through the official client over HTTP: a MARKET or LIMIT entry whose
stop-loss leg (SL-M, the other way) is placed when it fills; `exit_order` squares the position at
the market (or cancels an entry not yet filled); the stop-loss fires when the price falls to it."""
from __future__ import annotations

import pytest
from kiteconnect import exceptions as kex

from tests.fixtures.sandbox import TRADING_TIME


def book(kite) -> dict[str, dict]:
    return {o["order_id"]: o for o in kite.orders()}


def stoploss_leg(kite, entry_id: str) -> dict:
    (leg,) = [o for o in kite.orders() if o["parent_order_id"] == entry_id]
    return leg


def infy_price(kite) -> float:
    return kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]


def place_co(kite, *, trigger: float, order_type: str = "MARKET", price: float | None = None,
             side: str = "BUY", quantity: int = 10) -> str:
    extra = {"market_protection": -1} if order_type == "MARKET" else {"price": price}
    return kite.place_order(variety=kite.VARIETY_CO, exchange="NSE", tradingsymbol="INFY", transaction_type=side,
                            quantity=quantity, product=kite.PRODUCT_CO, order_type=order_type,
                            trigger_price=trigger, **extra)


def below(price: float, percent: float) -> float:
    return round(round(price * (1 - percent / 100) / 0.05) * 0.05, 2)


def test_a_filled_market_entry_gets_its_stop_loss_leg_and_exit_squares_it(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    last = infy_price(kite)
    entry_id = place_co(kite, trigger=below(last, 1))
    entry = book(kite)[entry_id]
    assert (entry["variety"], entry["product"], entry["status"], entry["filled_quantity"]) == ("co", "CO",
                                                                                            "COMPLETE", 10)
    leg = stoploss_leg(kite, entry_id)
    assert (leg["transaction_type"], leg["order_type"], leg["status"], leg["quantity"]) == (
        "SELL", "SL-M", "TRIGGER PENDING", 10)
    assert leg["trigger_price"] == below(last, 1) and leg["variety"] == "co"
    (position,) = [p for p in kite.positions()["net"] if p["product"] == "CO"]
    assert position["quantity"] == 10

    assert kite.exit_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=entry_id) == leg["order_id"]
    leg = book(kite)[leg["order_id"]]
    assert (leg["status"], leg["order_type"], leg["filled_quantity"]) == ("COMPLETE", "MARKET", 10)
    (position,) = [p for p in kite.positions()["net"] if p["product"] == "CO"]
    assert position["quantity"] == 0 and position["sell_quantity"] == 10


def test_the_stop_loss_leg_fires_when_the_price_falls_to_it(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    entry_id = place_co(kite, trigger=below(infy_price(kite), 1))
    sandbox.move_price("NSE:INFY", -2.5)
    sandbox.set_clock(advance_seconds=120)
    leg = stoploss_leg(kite, entry_id)
    assert leg["status"] == "COMPLETE" and leg["filled_quantity"] == 10
    (position,) = [p for p in kite.positions()["net"] if p["product"] == "CO"]
    assert position["quantity"] == 0


def test_an_unfilled_limit_entry_is_cancelled_by_exit_and_places_no_leg(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    last = infy_price(kite)
    limit = below(last, 2)
    entry_id = place_co(kite, trigger=below(last, 2.5), order_type="LIMIT", price=limit)
    assert book(kite)[entry_id]["status"] == "OPEN"
    assert kite.exit_order(kite.VARIETY_CO, entry_id) == entry_id
    assert book(kite)[entry_id]["status"] == "CANCELLED"
    assert [o for o in kite.orders() if o["parent_order_id"] == entry_id] == []


def test_the_stop_loss_leg_moves_its_trigger_on_modify(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    last = infy_price(kite)
    entry_id = place_co(kite, trigger=below(last, 1))
    leg = stoploss_leg(kite, entry_id)
    kite.modify_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=entry_id, trigger_price=below(last, 2))
    assert book(kite)[leg["order_id"]]["trigger_price"] == below(last, 2)
    with pytest.raises(kex.InputException, match="should be lower than the last traded price"):
        kite.modify_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=entry_id,
                          trigger_price=round(last * 1.01, 1))


@pytest.mark.parametrize(("change", "message"), [
    ({"order_type": "SL", "price": 1000.0}, "use MARKET or LIMIT"),
    ({"trigger_price": None}, "needs its stop-loss trigger price"),
    ({"product": "CNC"}, "cover orders are intraday"),
    ({"trigger_above": True}, "out of the range for a BUY cover order"),
    ({"trigger_far": True}, "out of the range for a BUY cover order"),
])
def test_a_bad_cover_order_is_refused_by_name_and_nothing_is_placed(sandbox, change, message):
    kite = sandbox.connect(starting_cash=1_000_000)
    last = infy_price(kite)
    params = {"variety": "co", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
              "quantity": 1, "product": "CO", "order_type": "MARKET", "market_protection": -1,
              "trigger_price": below(last, 1)}
    if change.pop("trigger_above", False):
        params["trigger_price"] = round(round(last * 1.01 / 0.05) * 0.05, 2)
    if change.pop("trigger_far", False):
        params["trigger_price"] = below(last, 10)
    params.update(change)
    if params["order_type"] == "SL":
        params.pop("market_protection")
    with pytest.raises(kex.InputException, match=message):
        kite.place_order(**{k: v for k, v in params.items() if v is not None})
    assert kite.orders() == []


def test_exiting_refuses_a_regular_order_a_wrong_parent_and_a_closed_leg(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    last = infy_price(kite)
    regular = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                               quantity=1, product="MIS", order_type="LIMIT", price=below(last, 3))
    with pytest.raises(kex.InputException, match="not a cover order"):
        kite.exit_order(kite.VARIETY_CO, regular)
    assert book(kite)[regular]["status"] == "OPEN"

    entry_id = place_co(kite, trigger=below(last, 1))
    leg = stoploss_leg(kite, entry_id)
    with pytest.raises(kex.InputException, match="Invalid `parent_order_id`"):
        kite.exit_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=regular)
    with pytest.raises(kex.InputException, match="Missing `parent_order_id`"):
        kite.exit_order(kite.VARIETY_CO, leg["order_id"])
    with pytest.raises(kex.InputException, match="exit it with its stop-loss leg"):
        kite.exit_order(kite.VARIETY_CO, entry_id, parent_order_id=entry_id)
    with pytest.raises(kex.InputException, match="exit it with variety co"):
        kite.cancel_order("regular", leg["order_id"])
    assert book(kite)[leg["order_id"]]["status"] == "TRIGGER PENDING"
    kite.exit_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=entry_id)
    with pytest.raises(kex.InputException, match="already completed"):
        kite.exit_order(kite.VARIETY_CO, leg["order_id"], parent_order_id=entry_id)


def test_an_open_cover_order_is_squared_off_at_1520(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    sandbox.set_clock(TRADING_TIME.replace(hour=15, minute=0))
    entry_id = place_co(kite, trigger=below(infy_price(kite), 1))
    leg_id = stoploss_leg(kite, entry_id)["order_id"]
    sandbox.set_clock(TRADING_TIME.replace(hour=15, minute=21))
    orders = book(kite)
    assert orders[leg_id]["status"] == "CANCELLED"
    (auto,) = [o for o in orders.values() if o["tag"] == "autosquareoff"]
    assert (auto["transaction_type"], auto["quantity"], auto["product"]) == ("SELL", 10, "CO")
    (position,) = [p for p in kite.positions()["net"] if p["product"] == "CO"]
    assert position["quantity"] == 0
