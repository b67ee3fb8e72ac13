"""The paper-trading engine through its services, on the test database (SQLite or PostgreSQL)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sandbox import pricing, selectors
from sandbox.clock import IST
from sandbox.depth import market_depth
from sandbox.engine.scheduler import book_sync
from sandbox.engine.services import order_cancel, order_modify, order_place
from sandbox.errors import InputError, KiteError, OrderError
from sandbox.models import Holding, Order, OrderEvent, PaperUser, Position, PriceShift, Trade
from sandbox.universe import instrument_by_key
from sandbox.users import StartingHolding, paper_user_create

WED_11 = dt.datetime(2025, 1, 15, 11, 0, tzinfo=IST)
THU = dt.date(2025, 1, 16)


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=IST)


def on_tick(value: Decimal) -> Decimal:
    return (value / Decimal("0.05")).quantize(Decimal("1")) * Decimal("0.05")


def ltp(key: str, moment: dt.datetime) -> Decimal:
    return Decimal(str(pricing.price_at(instrument_by_key(key, moment.date()), moment)))


def best(key: str, moment: dt.datetime, transaction_type: str = "BUY") -> Decimal:
    """The best price an order of `transaction_type` meets in the book: the best ask for a buy."""
    return market_depth(instrument_by_key(key, moment.date()), moment).side_for(transaction_type)[0].price


@pytest.fixture
def trader(db) -> PaperUser:
    return paper_user_create(now=WED_11, user_name="Asha Rao", starting_cash=Decimal("100000"),
                             holdings=[StartingHolding("NSE:INFY", 10, Decimal("1400"))])


@pytest.fixture
def shifts():
    """Move prices from an instant on, as POST /sandbox/prices does (reloading the process's table)."""
    version = [1000]

    def shift(key: str, percent: float, moment: dt.datetime) -> None:
        PriceShift.objects.create(instrument_token=instrument_by_key(key, moment.date()).seed, at=moment,
                                  factor=1 + percent / 100)
        version[0] += 1
        pricing.shifts_sync(version[0])

    yield shift
    pricing.SHIFTS.table, pricing.SHIFTS.version = {}, -1


def place(user: PaperUser, moment: dt.datetime = WED_11, variety: str = "regular", **params) -> Order:
    defaults = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1",
                "product": "CNC", "order_type": "MARKET", "market_protection": "-1"}
    order_id = order_place(user=user, variety=variety, params={**defaults, **params}, now=moment)
    return Order.objects.get(order_id=order_id)


def charged(user: PaperUser) -> Decimal:
    """What the user's fills cost in brokerage and statutory charges (each trade's, to the paisa)."""
    return sum((t.charges for t in Trade.objects.filter(user=user)), Decimal("0"))


def sync(user: PaperUser, moment: dt.datetime) -> PaperUser:
    user = PaperUser.objects.get(pk=user.pk)
    book_sync(user, moment)
    return PaperUser.objects.get(pk=user.pk)


def statuses(order: Order) -> list[str]:
    return [e.snapshot["status"] for e in OrderEvent.objects.filter(order=order)]


def equity(user: PaperUser, moment: dt.datetime) -> dict:
    return selectors.margins_payload(user=PaperUser.objects.get(pk=user.pk), now=moment, segment="equity")


def test_market_buy_within_the_best_ask_fills_there_in_one_trade_and_debits_cash(trader):
    # 5 shares are well within the touch level (a few hundred shares): one trade at the best ask,
    # which is the last price after an uptick and a tick above it after a downtick (sandbox.depth).
    order = place(trader, quantity="5")
    price = best("NSE:INFY", WED_11)
    assert price in (ltp("NSE:INFY", WED_11), ltp("NSE:INFY", WED_11) + Decimal("0.05"))
    assert order.status == "COMPLETE" and order.average_price == price and order.filled_quantity == 5
    assert statuses(order) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]
    trade = Trade.objects.get(order=order)
    assert (trade.quantity, trade.price, trade.fill_timestamp) == (5, price, WED_11)
    assert trade.charges > 0
    assert equity(trader, WED_11)["net"] == float(Decimal("100000") - 5 * price - trade.charges)


def test_limit_order_waits_then_fills_when_the_price_crosses(trader, shifts):
    price = ltp("NSE:INFY", WED_11)
    limit = on_tick(price * Decimal("0.9"))
    order = place(trader, order_type="LIMIT", price=str(limit))
    assert order.status == "OPEN" and order.blocked_margin == limit
    sync(trader, WED_11 + dt.timedelta(minutes=1))
    assert Order.objects.get(pk=order.pk).status == "OPEN"
    moved = WED_11 + dt.timedelta(minutes=2)
    shifts("NSE:INFY", -15, moved)
    sync(trader, moved)
    order.refresh_from_db()
    # A resting limit is the passive side when the market falls through it: it trades at its own price.
    assert order.status == "COMPLETE" and order.average_price == limit < ltp("NSE:INFY", WED_11)
    assert ltp("NSE:INFY", moved) <= limit
    assert order.blocked_margin == 0


def test_limit_order_fills_on_the_minute_path_between_requests(trader):
    infy = instrument_by_key("NSE:INFY", WED_11.date())
    marks = [WED_11 + dt.timedelta(minutes=m) for m in range(1, 240)]
    prices = [Decimal(str(pricing.price_at(infy, m))) for m in marks]
    limit = min(prices)
    assert limit < ltp("NSE:INFY", WED_11)  # the walk dips below the limit at some minute this afternoon
    order = place(trader, order_type="LIMIT", price=str(limit))
    sync(trader, marks[-1])
    order.refresh_from_db()
    first_touch = marks[prices.index(limit)]
    assert order.status == "COMPLETE"
    assert Trade.objects.get(order=order).fill_timestamp == first_touch


def test_stop_loss_market_triggers_and_sells(trader, shifts):
    price = ltp("NSE:INFY", WED_11)
    trigger = on_tick(price * Decimal("0.95"))
    order = place(trader, transaction_type="SELL", order_type="SL-M", trigger_price=str(trigger), quantity="10")
    assert order.status == "TRIGGER PENDING"
    moved = WED_11 + dt.timedelta(minutes=3)
    shifts("NSE:INFY", -10, moved)
    sync(trader, moved)
    order.refresh_from_db()
    assert order.status == "COMPLETE" and order.average_price <= trigger
    assert statuses(order)[-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]
    holding = Holding.objects.get(user=trader, tradingsymbol="INFY")
    assert holding.used_quantity == 10


def test_stop_loss_trigger_on_the_wrong_side_of_the_market_is_refused(trader):
    price = ltp("NSE:INFY", WED_11)
    with pytest.raises(InputError, match="higher than the last traded price"):
        place(trader, order_type="SL-M", trigger_price=str(on_tick(price * Decimal("0.9"))))
    assert not Order.objects.filter(user=trader).exists()


def test_ioc_limit_that_cannot_fill_is_cancelled_at_once(trader):
    limit = on_tick(ltp("NSE:INFY", WED_11) * Decimal("0.9"))
    order = place(trader, order_type="LIMIT", price=str(limit), validity="IOC", quantity="3")
    assert order.status == "CANCELLED" and order.cancelled_quantity == 3 and order.pending_quantity == 0


def test_regular_order_outside_market_hours_is_rejected_like_kite(trader):
    evening = at(WED_11.date(), 20)
    order = place(trader, evening)
    assert order.status == "REJECTED" and "Markets are closed" in order.status_message
    assert not Trade.objects.exists()


def test_amo_queues_until_the_next_open_and_fills_there(trader):
    evening = at(WED_11.date(), 20)
    order = place(trader, evening, variety="amo", quantity="2")
    assert order.status == "AMO REQ RECEIVED"
    sync(trader, at(THU, 9, 0))
    assert Order.objects.get(pk=order.pk).status == "AMO REQ RECEIVED"
    sync(trader, at(THU, 9, 30))
    order.refresh_from_db()
    assert order.status == "COMPLETE"
    assert order.average_price == ltp("NSE:INFY", at(THU, 9, 15))
    assert Trade.objects.get(order=order).fill_timestamp == at(THU, 9, 15)


def test_day_orders_still_open_are_cancelled_at_the_close(trader):
    limit = on_tick(ltp("NSE:INFY", WED_11) * Decimal("0.81"))
    order = place(trader, order_type="LIMIT", price=str(limit))
    user = sync(trader, at(WED_11.date(), 15, 45))
    order.refresh_from_db()
    assert order.status == "CANCELLED" and order.exchange_update_timestamp == at(WED_11.date(), 15, 30)
    assert user.open_orders == 0 and equity(trader, at(WED_11.date(), 16))["net"] == 100000.0


def test_cnc_buy_becomes_a_t1_holding_next_session_then_settles(trader):
    order = place(trader, tradingsymbol="TCS", quantity="2")
    cost = order.average_price * 2
    sync(trader, at(THU, 10))
    tcs = Holding.objects.get(user=trader, tradingsymbol="TCS")
    assert (tcs.t1_quantity, tcs.realised_quantity, tcs.average_price) == (2, 0, order.average_price)
    assert not Position.objects.filter(user=trader).exists()
    assert PaperUser.objects.get(pk=trader.pk).opening_balance == Decimal("100000") - cost - charged(trader)
    sync(trader, at(dt.date(2025, 1, 17), 10))
    tcs.refresh_from_db()
    assert (tcs.t1_quantity, tcs.realised_quantity) == (0, 2)


def test_insufficient_funds_is_a_rejected_order_with_kites_message(trader):
    price = ltp("NSE:INFY", WED_11)
    order = place(trader, quantity="100")
    assert order.status == "REJECTED"
    assert order.status_message == (f"Insufficient funds. Required margin is {100 * price:.2f} but available "
                                    "margin is 100000.00.")
    assert not Trade.objects.exists() and equity(trader, WED_11)["net"] == 100000.0


def test_selling_more_than_held_for_cnc_is_rejected(trader):
    order = place(trader, transaction_type="SELL", quantity="11")
    assert order.status == "REJECTED" and order.status_message.startswith("Insufficient holdings")
    assert place(trader, transaction_type="SELL", quantity="10").status == "COMPLETE"
    assert place(trader, transaction_type="SELL", quantity="1").status == "REJECTED"


@pytest.mark.parametrize(("params", "message"), [
    ({"quantity": "-5"}, "Invalid `quantity`"),
    ({"quantity": "abc"}, "Invalid `quantity`"),
    ({"quantity": ""}, "Missing `quantity`"),
    ({"tradingsymbol": "NOSUCH"}, "either expired or does not exist"),
    ({"tradingsymbol": "NIFTY 50"}, "indices cannot be traded"),
    ({"order_type": "LIMIT", "price": "1500.03"}, "Tick size for this script is 0.05"),
    ({"order_type": "LIMIT"}, "Invalid `price`"),
    ({"order_type": "STOP"}, "Invalid `order_type`"),
    ({"product": "NRML"}, "Invalid `product`"),
    ({"exchange": "NFO", "tradingsymbol": "NIFTY25JANFUT", "product": "NRML", "quantity": "10"}, "lots of 75"),
    ({"tag": "x" * 21}, "Invalid `tag`"),
])
def test_bad_input_is_an_input_error_and_leaves_the_books_unchanged(trader, params, message):
    with pytest.raises(InputError, match=message):
        place(trader, **params)
    assert not Order.objects.exists() and not Position.objects.exists()


def test_unknown_variety_is_an_input_error(trader):
    with pytest.raises(InputError, match="variety"):
        place(trader, variety="bracket")


def test_modify_changes_an_open_order_and_stops_after_25(trader):
    price = ltp("NSE:INFY", WED_11)
    limit = on_tick(price * Decimal("0.9"))
    order = place(trader, order_type="LIMIT", price=str(limit))
    order_modify(user=trader, variety="regular", order_id=order.order_id, params={"quantity": "2"}, now=WED_11)
    order.refresh_from_db()
    assert (order.quantity, order.modified, order.status) == (2, True, "OPEN")
    assert statuses(order)[-4:] == ["MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]
    for _ in range(24):
        order_modify(user=trader, variety="regular", order_id=order.order_id, params={"quantity": "1"}, now=WED_11)
    with pytest.raises(OrderError, match="Maximum allowed order modifications"):
        order_modify(user=trader, variety="regular", order_id=order.order_id, params={"quantity": "2"}, now=WED_11)


def test_modify_to_a_marketable_price_fills(trader):
    order = place(trader, order_type="LIMIT", price=str(on_tick(ltp("NSE:INFY", WED_11) * Decimal("0.9"))))
    with pytest.raises(InputError, match="without market protection are not allowed"):
        order_modify(user=trader, variety="regular", order_id=order.order_id, params={"order_type": "MARKET"},
                     now=WED_11)
    assert Order.objects.get(pk=order.pk).order_type == "LIMIT"  # the refused change left it as it was
    order_modify(user=trader, variety="regular", order_id=order.order_id,
                 params={"order_type": "MARKET", "market_protection": "-1"}, now=WED_11)
    order.refresh_from_db()
    assert order.status == "COMPLETE" and order.market_protection == -1
    assert order.system_tags == ["mktp", "mktp:0.50"]  # INFY above ₹500: Kite's automatic band is 0.5%


def test_completed_or_cancelled_orders_cannot_be_modified_or_cancelled(trader):
    done = place(trader)
    with pytest.raises(InputError, match="already completed"):
        order_modify(user=trader, variety="regular", order_id=done.order_id, params={"quantity": "2"}, now=WED_11)
    with pytest.raises(InputError, match="already completed"):
        order_cancel(user=trader, variety="regular", order_id=done.order_id, now=WED_11)
    with pytest.raises(InputError, match="Couldn't find"):
        order_cancel(user=trader, variety="regular", order_id="999", now=WED_11)


def test_modify_beyond_funds_is_a_margin_error_and_keeps_the_order(trader):
    limit = on_tick(ltp("NSE:INFY", WED_11) * Decimal("0.9"))
    order = place(trader, order_type="LIMIT", price=str(limit))
    with pytest.raises(KiteError, match="Insufficient funds") as caught:
        order_modify(user=trader, variety="regular", order_id=order.order_id, params={"quantity": "500"}, now=WED_11)
    assert caught.value.error_type == "MarginException"
    assert Order.objects.get(pk=order.pk).quantity == 1


def test_intraday_position_is_squared_off_and_its_profit_settles(trader):
    buy = place(trader, product="MIS", quantity="10")
    squared = at(WED_11.date(), 15, 20)
    user = sync(trader, at(WED_11.date(), 15, 25))
    exit_price = best("NSE:INFY", squared, "SELL")  # 10 shares: one trade at the best bid
    profit = (exit_price - buy.average_price) * 10
    auto = Order.objects.get(user=trader, tag="autosquareoff")
    assert (auto.transaction_type, auto.quantity, auto.average_price) == ("SELL", 10, exit_price)
    assert equity(user, at(WED_11.date(), 15, 25))["utilised"]["m2m_realised"] == float(profit.quantize(
        Decimal("0.01")))
    user = sync(trader, at(THU, 10))
    assert user.opening_balance == Decimal("100000") + profit - charged(trader) and user.charges_today == 0


def test_future_margin_beyond_cash_is_rejected(trader):
    order = place(trader, exchange="NFO", tradingsymbol="NIFTY25JANFUT", product="NRML", quantity="75")
    fut = instrument_by_key("NFO:NIFTY25JANFUT", WED_11.date())
    required = Decimal("0.13") * 75 * Decimal(str(pricing.price_at(fut, WED_11)))
    assert order.status == "REJECTED"
    assert f"Required margin is {required:.2f} but available margin is 100000.00." in order.status_message


def test_future_carried_overnight_settles_its_mark_to_market(trader):
    PaperUser.objects.filter(pk=trader.pk).update(opening_balance=Decimal("1000000"))
    trader.refresh_from_db()
    order = place(trader, exchange="NFO", tradingsymbol="NIFTY25JANFUT", product="NRML", quantity="75")
    fut = instrument_by_key("NFO:NIFTY25JANFUT", WED_11.date())
    close = Decimal(str(pricing.closing_price(fut, WED_11.date())))
    user = sync(trader, at(THU, 10))
    pos = Position.objects.get(user=trader)
    assert (pos.overnight_quantity, pos.overnight_average, pos.overnight_close) == (75, order.average_price, close)
    assert order.status == "COMPLETE"
    assert user.opening_balance == Decimal("1000000") + (close - order.average_price) * 75 - charged(trader)
    net = selectors.positions_payload(user=user, now=at(THU, 10))["net"][0]
    assert net["overnight_quantity"] == 75 and net["quantity"] == 75
    assert selectors.positions_payload(user=user, now=at(THU, 10))["day"] == []


def test_positions_show_realised_and_unrealised_pnl(trader, shifts):
    buy = place(trader, product="MIS", quantity="10")
    later = WED_11 + dt.timedelta(minutes=5)
    shifts("NSE:INFY", 2, later)
    sell = place(trader, later, product="MIS", quantity="4", transaction_type="SELL")
    row = selectors.positions_payload(user=trader, now=later)["net"][0]
    last = ltp("NSE:INFY", later)
    assert row["quantity"] == 6 and row["last_price"] == float(last)
    assert row["realised"] == float(((sell.average_price - buy.average_price) * 4).quantize(Decimal("0.01")))
    assert row["unrealised"] == float(((last - buy.average_price) * 6).quantize(Decimal("0.01")))
    assert row["pnl"] == pytest.approx(row["realised"] + row["unrealised"], abs=0.011)


def test_option_purchase_is_paid_as_premium(trader):
    order = place(trader, exchange="NFO", tradingsymbol="NIFTY25JAN24500CE", product="NRML", quantity="75")
    margins = equity(trader, WED_11)
    assert margins["utilised"]["option_premium"] == float((order.average_price * 75).quantize(Decimal("0.01")))
    assert margins["net"] == float((Decimal("100000") - order.average_price * 75 - charged(trader)).quantize(
        Decimal("0.01")))


def test_starting_portfolio_defaults_to_a_few_nifty50_stocks_at_past_prices(db):
    user = paper_user_create(now=WED_11)
    holdings = list(Holding.objects.filter(user=user))
    assert len(holdings) >= 5 and user.opening_balance == Decimal("1000000")
    assert len({h.average_price for h in holdings}) == len(holdings)
    assert all(h.realised_quantity > 0 and h.average_price > 0 for h in holdings)
    assert all(on_tick(h.average_price) == h.average_price for h in holdings)
