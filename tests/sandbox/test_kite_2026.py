"""Kite as it is since 1 April 2026, through the official client over HTTP: market protection,
10 orders a second per user, no IOC on MCX, autoslice, static IPs; the margin calculator, the
virtual contract note, and fills paying the same charges from paper cash."""
from __future__ import annotations

import time

import pytest
from kiteconnect import exceptions as kex

NO_PROTECTION = ("Market orders without market protection are not allowed via API. Please set market protection "
                 "or use a Limit order.")
# The keys of Kite's official mocks (kiteconnect-mocks: order_margins.json, basket_margins.json,
# virtual_contract_note.json, autoslice_response.json).
CHARGES_KEYS = {"transaction_tax", "transaction_tax_type", "exchange_turnover_charge", "sebi_turnover_charge",
                "brokerage", "stamp_duty", "gst", "total"}
GST_KEYS = {"igst", "cgst", "sgst", "total"}
MARGIN_KEYS = {"type", "tradingsymbol", "exchange", "span", "exposure", "option_premium", "additional", "bo", "cash",
               "var", "pnl", "leverage", "charges", "total"}
NOTE_KEYS = {"transaction_type", "tradingsymbol", "exchange", "variety", "product", "order_type", "quantity", "price",
             "charges"}


def buy_infy(kite, **extra):
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                            product="CNC", **{"quantity": 1, "order_type": "MARKET", **extra})


def far_limit(kite, symbol: str = "INFY") -> float:
    """A buy limit far below the market: the order rests OPEN."""
    last = kite.ltp(f"NSE:{symbol}")[f"NSE:{symbol}"]["last_price"]
    return round(round(last * 0.8 / 0.05) * 0.05, 2)


def nifty_calls(kite) -> list[dict]:
    """This month's NIFTY calls, by strike."""
    calls = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "CE"]
    expiry = max(i["expiry"] for i in calls)
    return sorted((i for i in calls if i["expiry"] == expiry), key=lambda i: i["strike"])


# --- market protection -------------------------------------------------------------------------------

def test_a_market_order_without_protection_is_refused_and_nothing_is_placed(sandbox):
    kite = sandbox.connect()
    for protection in (None, 0):
        with pytest.raises(kex.InputException) as refused:
            buy_infy(kite, market_protection=protection)
        assert refused.value.code == 400 and str(refused.value) == NO_PROTECTION
    with pytest.raises(kex.InputException, match="without market protection"):
        kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="SELL", quantity=1,
                         product="CNC", order_type="SL-M", trigger_price=far_limit(kite))
    assert kite.orders() == []


def test_a_protected_market_order_fills_and_shows_its_protection(sandbox):
    kite = sandbox.connect()
    automatic = buy_infy(kite, market_protection=-1)
    chosen = buy_infy(kite, market_protection=2.5)
    book = {o["order_id"]: o for o in kite.orders()}
    assert book[automatic]["status"] == "COMPLETE" and book[automatic]["market_protection"] == -1
    assert book[automatic]["tags"] == ["mktp", "mktp:0.50"]  # INFY trades above ₹500: Kite's band is 0.5%
    assert book[chosen]["market_protection"] == 2.5 and book[chosen]["tags"] == ["mktp", "mktp:2.50"]
    assert kite.order_history(automatic)[-1]["market_protection"] == -1


def test_market_protection_must_be_a_decimal_from_0_to_100_or_minus_1(sandbox):
    kite = sandbox.connect()
    with pytest.raises(kex.InputException) as boolean:
        buy_infy(kite, market_protection=True)
    assert str(boolean.value) == "failed to decode market_protection, got: True (expected decimal)"
    for bad in (-2, 100.5, "lots"):
        with pytest.raises(kex.InputException, match="market_protection"):
            buy_infy(kite, market_protection=bad)
    assert kite.orders() == []


def test_modifying_to_market_needs_protection_too(sandbox):
    kite = sandbox.connect()
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="LIMIT", price=far_limit(kite))
    with pytest.raises(kex.InputException, match="without market protection"):
        kite.modify_order(variety="regular", order_id=order_id, order_type="MARKET")
    assert kite.order_history(order_id)[-1]["order_type"] == "LIMIT"
    kite.modify_order(variety="regular", order_id=order_id, order_type="MARKET", market_protection=-1)
    last = kite.order_history(order_id)[-1]
    assert (last["status"], last["market_protection"], last["tags"]) == ("COMPLETE", -1, ["mktp", "mktp:0.50"])


def test_ioc_on_mcx_is_refused_before_anything_is_placed(sandbox):
    kite = sandbox.connect()
    with pytest.raises(kex.InputException, match="IOC validity is not allowed for MCX") as refused:
        kite.place_order(variety="regular", exchange="MCX", tradingsymbol="GOLDPETAL26DECFUT", transaction_type="BUY",
                         quantity=1, product="NRML", order_type="LIMIT", price=9000, validity="IOC")
    assert refused.value.code == 400 and kite.orders() == []


# --- 10 orders a second --------------------------------------------------------------------------------

def test_the_eleventh_order_in_a_second_is_a_429_across_the_users_apps(rate_limited_sandbox):
    first = rate_limited_sandbox.connect()
    second = rate_limited_sandbox.connect(user_id=first.sandbox_app["user_id"])  # the same user's other app
    price = far_limit(first)
    time.sleep(1.0)  # a fresh one-second window (the reads above have their own budget; this is for clarity)
    started, outcomes = time.monotonic(), []
    for n in range(11):
        kite = first if n % 2 else second
        try:
            kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                             quantity=1, product="CNC", order_type="LIMIT", price=price)
            outcomes.append("placed")
        except kex.NetworkException as refused:
            assert refused.code == 429 and str(refused) == "Too many requests"
            outcomes.append(429)
    assert time.monotonic() - started < 1.0, "the machine is too slow to send 11 orders within one second"
    assert outcomes == ["placed"] * 10 + [429]
    assert len(first.orders()) == 10 and len(second.orders()) == 10  # one user's book, seen by both apps


# --- autoslice -------------------------------------------------------------------------------------------

def test_autoslice_splits_above_the_freeze_quantity_and_tags_the_slices(sandbox):
    kite = sandbox.connect()
    call = nifty_calls(kite)[-1]  # NIFTY: lot 75, freeze quantity 1800 (24 lots)
    answer = kite.place_autoslice_order(variety="regular", exchange="NFO", tradingsymbol=call["tradingsymbol"],
                                        transaction_type="BUY", quantity=75 * 30, product="NRML",
                                        order_type="LIMIT", price=0.05)
    assert set(answer) == {"order_id", "children"} and len(answer["children"]) == 2
    book = {o["order_id"]: o for o in kite.orders()}
    slices = [book[child["order_id"]] for child in answer["children"]]
    assert [s["quantity"] for s in slices] == [1800, 450]
    assert all(s["tags"] == ["autoslice", f"autoslice:{answer['order_id']}"] for s in slices)
    assert answer["order_id"] not in book


def test_autoslice_refuses_more_than_ten_slices_and_reports_a_slice_funds_do_not_cover(sandbox):
    probe = sandbox.connect()
    call = nifty_calls(probe)[9]
    last = probe.ltp(f"NFO:{call['tradingsymbol']}")[f"NFO:{call['tradingsymbol']}"]["last_price"]
    price = round(round(last * 0.5 / 0.05) * 0.05, 2)  # a bid below the market: the slices rest OPEN
    kite = sandbox.connect(starting_cash=round(1800 * price + 1, 2), holdings=[])  # the first slice's premium
    order = {"variety": "regular", "exchange": "NFO", "tradingsymbol": call["tradingsymbol"],
             "transaction_type": "BUY", "product": "NRML", "order_type": "LIMIT", "price": price}
    with pytest.raises(kex.InputException, match="at most 10"):
        kite.place_autoslice_order(quantity=1800 * 10 + 75, **order)
    assert kite.orders() == []
    answer = kite.place_autoslice_order(quantity=1800 + 450, **order)
    ok, refused = answer["children"]
    assert set(ok) == {"order_id"} and set(refused) == {"error"}
    assert refused["error"]["error_type"] == "MarginException" and refused["error"]["code"] == 400
    assert refused["error"]["message"] == (f"Insufficient funds. Required margin is {450 * price:.2f} but "
                                           "available margin is 1.00.")


def test_an_order_over_the_freeze_quantity_without_autoslice_is_refused(sandbox):
    kite = sandbox.connect()
    with pytest.raises(kex.InputException, match="freeze limit of 1800"):
        kite.place_order(variety="regular", exchange="NFO", tradingsymbol=nifty_calls(kite)[-1]["tradingsymbol"],
                         transaction_type="BUY", quantity=1875, product="NRML", order_type="LIMIT", price=0.05)


# --- static IPs --------------------------------------------------------------------------------------------

def test_orders_from_an_address_the_app_did_not_register_are_refused_reads_are_not(sandbox):
    open_app = sandbox.connect()
    price = far_limit(open_app)
    resting = open_app.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                   quantity=1, product="CNC", order_type="LIMIT", price=price)
    fenced = sandbox.connect(user_id=open_app.sandbox_app["user_id"], allowed_ips=["10.20.30.40"])
    calls = (lambda: buy_infy(fenced, market_protection=-1),
             lambda: fenced.modify_order(variety="regular", order_id=resting, quantity=2),
             lambda: fenced.cancel_order(variety="regular", order_id=resting))
    for call in calls:
        with pytest.raises(kex.PermissionException) as refused:
            call()
        assert refused.value.code == 403
        assert "10.20.30.40" in str(refused.value) and "127.0.0.1" in str(refused.value)
    assert [o["status"] for o in fenced.orders()] == ["OPEN"]  # reads work from anywhere
    assert fenced.margins("equity")["net"] > 0 and fenced.positions() == {"net": [], "day": []}
    home = sandbox.connect(allowed_ips=["127.0.0.1"])
    assert buy_infy(home, market_protection=-1)


# --- margins and charges -----------------------------------------------------------------------------------

def assert_margin_shape(obj: dict) -> None:
    assert set(obj) == MARGIN_KEYS and set(obj["charges"]) == CHARGES_KEYS and set(obj["charges"]["gst"]) == GST_KEYS
    assert set(obj["pnl"]) == {"realised", "unrealised"}


def test_order_margins_of_a_delivery_buy_and_a_short_option(sandbox):
    kite = sandbox.connect()
    call = nifty_calls(kite)[9]
    spot = kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    infy, short_call = kite.order_margins([
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular",
         "product": "CNC", "order_type": "LIMIT", "quantity": 10, "price": 1500, "trigger_price": 0},
        {"exchange": "NFO", "tradingsymbol": call["tradingsymbol"], "transaction_type": "SELL", "variety": "regular",
         "product": "NRML", "order_type": "LIMIT", "quantity": 75, "price": 100, "trigger_price": 0}])
    assert_margin_shape(infy)
    assert_margin_shape(short_call)
    assert (infy["type"], infy["var"], infy["total"]) == ("equity", 15000, 15000)
    # By hand: 15000 turnover; STT 0.1% = 15; NSE 0.00297% = 0.4455; SEBI ₹10/crore = 0.015; stamp
    # 0.015% = 2.25; GST 18% of (0 + 0.4455 + 0.015) = 0.08289.
    assert infy["charges"]["transaction_tax"] == 15 and infy["charges"]["stamp_duty"] == pytest.approx(2.25)
    assert infy["charges"]["total"] == pytest.approx(17.79339)
    assert short_call["span"] == pytest.approx(0.10 * 75 * spot) and short_call["exposure"] == pytest.approx(
        0.03 * 75 * spot)
    # 7500 of premium: ₹20 flat; STT 0.15% on the sale = 11.25; NSE 0.03503% = 2.62725; SEBI 0.0075;
    # GST 18% of 22.63475 = 4.074255.
    assert short_call["charges"]["total"] == pytest.approx(37.959005)


def test_compact_order_margins_give_the_total_only(sandbox):
    kite = sandbox.connect()
    answer = kite.reqsession.post(f"{sandbox.url}/margins/orders?mode=compact", timeout=10, json=[
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular",
         "product": "CNC", "order_type": "LIMIT", "quantity": 2, "price": 1500}],
        headers={"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"}).json()
    assert answer["data"] == [{"type": "equity", "tradingsymbol": "INFY", "exchange": "NSE", "total": 3000}]


def test_basket_margins_give_a_hedged_spread_its_benefit(sandbox):
    kite = sandbox.connect()
    calls = nifty_calls(kite)
    short, long = calls[9], calls[11]
    basket = [{"exchange": "NFO", "tradingsymbol": leg["tradingsymbol"], "transaction_type": side,
               "variety": "regular", "product": "NRML", "order_type": "LIMIT", "quantity": 75, "price": price}
              for leg, side, price in ((short, "SELL", 300), (long, "BUY", 120))]
    answer = kite.basket_order_margins(basket, consider_positions=True)
    assert set(answer) == {"initial", "final", "orders", "charges"} and set(answer["charges"]) == CHARGES_KEYS
    for part in (answer["initial"], answer["final"], *answer["orders"]):
        assert_margin_shape(part)
    initial, final = answer["initial"], answer["final"]
    legs = sum(o["total"] for o in answer["orders"])
    assert initial["total"] == pytest.approx(legs) and (initial["type"], initial["tradingsymbol"]) == ("", "")
    # The short call is covered by the long one: it blocks the spread's largest loss, not a naked SPAN.
    assert final["span"] == pytest.approx((long["strike"] - short["strike"]) * 75) and final["exposure"] == 0
    assert final["option_premium"] == pytest.approx((120 - 300) * 75)  # premium paid less premium received
    assert final["total"] == pytest.approx(final["span"] + final["option_premium"])
    assert final["total"] < initial["total"]
    compact = kite.basket_order_margins(basket, consider_positions=False, mode="compact")
    assert compact["final"]["total"] == pytest.approx(final["total"])
    assert set(compact["orders"][0]) == {"type", "tradingsymbol", "exchange", "total"}


def test_virtual_contract_note_of_an_intraday_round_trip_and_a_delivery_buy(sandbox):
    kite = sandbox.connect()
    rows = [{"order_id": n, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": side,
             "variety": "regular", "product": product, "order_type": "LIMIT", "quantity": quantity,
             "average_price": price}
            for n, (side, product, quantity, price) in enumerate((("BUY", "MIS", 100, 1000), ("SELL", "MIS", 100, 1010),
                                                                   ("BUY", "CNC", 10, 1500)))]
    buy, sell, delivery = kite.get_virtual_contract_note(rows)
    assert all(set(row) == NOTE_KEYS and set(row["charges"]) == CHARGES_KEYS for row in (buy, sell, delivery))
    # Buy 100 000: brokerage min(₹20, 0.03% = 30) = 20; no STT on an intraday buy; NSE 2.97; SEBI 0.1;
    # stamp 0.003% = 3; GST 18% of 23.07 = 4.1526.
    assert (buy["charges"]["brokerage"], buy["charges"]["transaction_tax"]) == (20, 0)
    assert buy["charges"]["total"] == pytest.approx(30.2226)
    # Sell 101 000: brokerage 20; STT 0.025% = 25.25; NSE 2.9997; SEBI 0.101; no stamp duty on a sale;
    # GST 18% of 23.1007 = 4.158126.
    assert sell["charges"]["stamp_duty"] == 0 and sell["charges"]["total"] == pytest.approx(52.508826)
    assert delivery["charges"]["brokerage"] == 0 and delivery["charges"]["total"] == pytest.approx(17.79339)
    assert delivery["price"] == 1500 and delivery["charges"]["transaction_tax_type"] == "stt"


def test_a_fill_pays_its_contract_note_from_paper_cash(sandbox):
    kite = sandbox.connect()
    before = kite.margins("equity")
    order_id = buy_infy(kite, market_protection=-1, quantity=3)
    trade = kite.order_trades(order_id)[0]
    (note,) = kite.get_virtual_contract_note([{
        "order_id": order_id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
        "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 3,
        "average_price": trade["average_price"]}])
    after = kite.margins("equity")
    charges = round(note["charges"]["total"], 2)
    assert charges > 0
    assert after["net"] == pytest.approx(before["net"] - 3 * trade["average_price"] - charges, abs=1e-6)
    assert after["utilised"]["debits"] == pytest.approx(before["utilised"]["debits"] + 3 * trade["average_price"]
                                                        + charges, abs=1e-6)


def test_margin_and_charges_requests_need_a_json_array_of_known_orders(sandbox):
    kite = sandbox.connect()
    with pytest.raises(kex.InputException, match="not an instrument the sandbox lists"):
        kite.order_margins([{"exchange": "NSE", "tradingsymbol": "NOPE", "transaction_type": "BUY",
                             "product": "CNC", "quantity": 1}])
    with pytest.raises(kex.InputException, match="average_price"):
        kite.get_virtual_contract_note([{"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                                         "product": "CNC", "quantity": 1, "average_price": 0}])
    with pytest.raises(kex.InputException, match="JSON array"):
        kite.order_margins({"exchange": "NSE"})
