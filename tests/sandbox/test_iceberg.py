"""Iceberg orders through the official client over HTTP: LIMIT orders in 2-50 legs, each leg an
order of its own placed when the one before it fills, with Kite's `meta.iceberg`."""
from __future__ import annotations

import pytest
from kiteconnect import exceptions as kex


def infy_price(kite) -> float:
    return kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def iceberg(kite, *, price: float, quantity: int = 30, legs: int = 3, leg_quantity: int = 10, **extra) -> str:
    return kite.place_order(variety=kite.VARIETY_ICEBERG, exchange="NSE", tradingsymbol="INFY",
                            transaction_type="BUY", quantity=quantity, product="CNC", order_type="LIMIT",
                            price=price, iceberg_legs=legs, iceberg_quantity=leg_quantity, **extra)


def legs(kite) -> list[dict]:
    return [o for o in kite.orders() if o["variety"] == "iceberg"]


def test_legs_are_placed_one_after_another_as_each_fills(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    first_id = iceberg(kite, price=tick(infy_price(kite) * 1.01))
    first, second = legs(kite)
    assert first["order_id"] == first_id and (first["status"], first["quantity"]) == ("COMPLETE", 10)
    assert first["meta"]["iceberg"] == {"leg": 1, "legs": 3, "leg_quantity": 10, "total_quantity": 30,
                                        "remaining_quantity": 20}
    assert (second["status"], second["quantity"], second["filled_quantity"]) == ("OPEN", 10, 0)
    assert second["meta"]["iceberg"]["leg"] == 2 and second["order_id"] != first_id
    sandbox.set_clock(advance_seconds=300)
    placed = legs(kite)
    assert [o["meta"]["iceberg"]["leg"] for o in placed] == [1, 2, 3]
    assert [o["meta"]["iceberg"]["remaining_quantity"] for o in placed] == [20, 10, 0]
    assert all(o["status"] == "COMPLETE" and o["filled_quantity"] == 10 for o in placed)
    (position,) = [p for p in kite.positions()["net"] if p["tradingsymbol"] == "INFY" and p["product"] == "CNC"]
    assert position["quantity"] == 30


def test_the_last_leg_carries_what_is_left(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    iceberg(kite, price=tick(infy_price(kite) * 1.01), quantity=25, legs=3, leg_quantity=10)
    sandbox.set_clock(advance_seconds=300)
    assert [o["quantity"] for o in legs(kite)] == [10, 10, 5]


def test_cancelling_the_open_leg_ends_the_iceberg(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    first_id = iceberg(kite, price=tick(infy_price(kite) * 0.97))
    assert [o["status"] for o in legs(kite)] == ["OPEN"]
    kite.cancel_order(kite.VARIETY_ICEBERG, first_id)
    sandbox.set_clock(advance_seconds=300)
    assert [o["status"] for o in legs(kite)] == ["CANCELLED"]


@pytest.mark.parametrize(("change", "message"), [
    ({"legs": 1}, "`iceberg_legs`"),
    ({"legs": 51, "quantity": 51, "leg_quantity": 1}, "between 2 and 50"),
    ({"legs": 4}, "makes 3 legs"),
    ({"leg_quantity": 30, "legs": 2}, "less than the order's quantity"),
    ({"validity": "IOC"}, "IOC validity is not allowed for iceberg orders"),
])
def test_bad_iceberg_arguments_are_refused_by_name(sandbox, change, message):
    kite = sandbox.connect(starting_cash=1_000_000)
    args = {"price": tick(infy_price(kite)), "quantity": 30, "legs": 3, "leg_quantity": 10}
    args.update(change)
    with pytest.raises(kex.InputException, match=message):
        iceberg(kite, **args)
    assert kite.orders() == []


def test_a_market_iceberg_is_refused(sandbox):
    kite = sandbox.connect(starting_cash=1_000_000)
    with pytest.raises(kex.InputException, match="LIMIT icebergs"):
        kite.place_order(variety="iceberg", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                         quantity=30, product="CNC", order_type="MARKET", market_protection=-1, iceberg_legs=3,
                         iceberg_quantity=10)
