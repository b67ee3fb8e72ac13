"""Guardrails and the preview over the REST API: an account's own limits, and the duplicate rule, refuse
an order before anything is sent; preview_order shows value, margin, charges and the guardrails."""
from __future__ import annotations

import pytest

from accounts.models import Account
from kite.models import OrderAudit
from tests.kite.test_flow import error_of, execute, ok, sandbox_orders

ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
         "order_type": "LIMIT", "quantity": 10, "price": 1500.0}


def test_an_order_over_the_value_limit_is_refused_naming_both_figures(api_client, trading, kite_settings):
    Account.objects.filter(pk=trading.pk).update(max_order_value=10_000)
    error = error_of(execute(api_client, "place_order", account_id=trading.id, **ORDER), 403)
    assert error["type"] == "guardrail"
    assert "₹15,000.00" in error["message"] and "₹10,000.00" in error["message"]
    assert "max_order_value" in error["message"] and "Nothing was sent" in error["message"]
    assert sandbox_orders(kite_settings, trading) == []
    assert list(OrderAudit.objects.values_list("outcome", "error_type")) == [("refused", "guardrail")]


def test_a_market_order_is_valued_at_the_last_price(api_client, trading, kite_settings):
    ltp = ok(execute(api_client, "get_ltp", account_id=trading.id, instruments=["NSE:INFY"]))["NSE:INFY"]["last_price"]
    Account.objects.filter(pk=trading.pk).update(max_order_value=round(ltp * 2 - 1, 2))
    market = {**ORDER, "order_type": "MARKET", "quantity": 2}
    market.pop("price")
    error = error_of(execute(api_client, "place_order", account_id=trading.id, **market), 403)
    assert error["type"] == "guardrail" and "max_order_value" in error["message"]
    assert ok(execute(api_client, "place_order", account_id=trading.id, **{**market, "quantity": 1}))["order_id"]


def test_orders_per_day_and_the_duplicate_rule(api_client, trading, kite_settings):
    Account.objects.filter(pk=trading.pk).update(max_orders_per_day=2)
    low = {**ORDER, "price": 1000.0}  # far below the market: the orders stay open
    first = ok(execute(api_client, "place_order", account_id=trading.id, **low))
    duplicate = error_of(execute(api_client, "place_order", account_id=trading.id, **low), 403)
    assert duplicate["type"] == "guardrail" and "duplicate" in duplicate["message"]
    ok(execute(api_client, "place_order", account_id=trading.id, **{**low, "quantity": 11}))
    third = error_of(execute(api_client, "place_order", account_id=trading.id, **{**low, "quantity": 12}), 403)
    assert "2 already sent today" in third["message"] and "max_orders_per_day" in third["message"]
    assert [o["order_id"] for o in sandbox_orders(kite_settings, trading)][0] == first["order_id"]
    assert len(sandbox_orders(kite_settings, trading)) == 2


def test_guardrails_are_set_through_the_api_strictly(api_client, trading):
    url = f"/api/accounts/{trading.id}"
    answer = api_client.patch(url, {"max_order_value": 250000.5, "max_orders_per_day": 20}, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["max_order_value"], answer.json()["max_orders_per_day"]) == (250000.5, 20)
    for bad in ({"max_order_value": "1000"}, {"max_order_value": True}, {"max_order_value": 0},
                {"max_orders_per_day": 1.5}, {"max_orders_per_day": 0}):
        refused = api_client.patch(url, bad, format="json")
        assert refused.status_code == 400 and set(refused.json()["error"]["fields"]) == set(bad), bad
    cleared = api_client.patch(url, {"max_order_value": None, "max_orders_per_day": None}, format="json").json()
    assert (cleared["max_order_value"], cleared["max_orders_per_day"]) == (None, None)


def test_preview_shows_the_value_and_the_guardrails_and_sends_nothing(api_client, trading, kite_settings):
    Account.objects.filter(pk=trading.pk).update(max_order_value=10_000)
    preview = ok(execute(api_client, "preview_order", account_id=trading.id, **ORDER))
    assert preview["order_value"] == 15000.0
    assert preview["guardrails"]["ok"] is False and "max_order_value" in preview["guardrails"]["problems"][0]
    for key in ("margin", "charges"):  # what Kite answered, or why it could not: never a made-up zero
        assert preview[key] is not None or key in preview.get("unavailable", {}), key
    assert sandbox_orders(kite_settings, trading) == [] and not OrderAudit.objects.exists()


@pytest.mark.parametrize("changes, field", [
    ({"market_protection": 0, "order_type": "MARKET", "price": None}, "market_protection"),
    ({"market_protection": True, "order_type": "MARKET", "price": None}, "market_protection"),
    ({"market_protection": 5}, "args"),  # LIMIT takes none
    ({"exchange": "MCX", "tradingsymbol": "GOLDM", "validity": "IOC"}, "args"),
    ({"variety": "iceberg"}, "args"),
    ({"auction_number": "12"}, "args"),
])
def test_2026_order_rules_are_refused_before_sending(api_client, trading, kite_settings, changes, field):
    body = {k: v for k, v in {**ORDER, **changes}.items() if v is not None}
    error = error_of(execute(api_client, "place_order", account_id=trading.id, **body), 400)
    assert error["type"] == "invalid" and field in error["fields"]
    if "validity" in changes:
        assert "IOC" in error["message"] and "MCX" in error["message"]
    assert sandbox_orders(kite_settings, trading) == []


def test_ten_orders_a_second_per_kite_user_hold_across_paths(api_client, trading, kite_settings, user):
    from datetime import timedelta

    from django.utils import timezone

    for path in ("api", "mcp", "web") * 3 + ("mcp",):  # ten orders that reached Kite just now, from any path
        OrderAudit.objects.create(user=user, username=user.username, path=path, account=trading, tool="place_order",
                                  outcome="sent")
    OrderAudit.objects.update(created_at=timezone.now() + timedelta(seconds=5))  # "just now", however slow we run
    answer = execute(api_client, "place_order", account_id=trading.id, **ORDER)
    error = error_of(answer, 429)
    assert error["type"] == "rate_limited" and "10 orders a second" in error["message"]
    assert answer["Retry-After"] == "1"
    assert sandbox_orders(kite_settings, trading) == []


def test_a_market_order_goes_out_with_kites_automatic_market_protection(api_client, trading, kite_settings):
    market = {k: v for k, v in ORDER.items() if k != "price"} | {"order_type": "MARKET", "quantity": 1}
    placed = ok(execute(api_client, "place_order", account_id=trading.id, **market))
    [order] = [o for o in sandbox_orders(kite_settings, trading) if o["order_id"] == placed["order_id"]]
    assert order["market_protection"] == -1 and order["status"] == "COMPLETE"


def test_a_market_order_is_priced_once_for_both_guardrail_checks(api_client, trading, kite_settings):
    import time

    Account.objects.filter(pk=trading.pk).update(max_order_value=10_000_000)
    seen = len(kite_settings.log_tail(1_000_000).splitlines())
    market = {k: v for k, v in ORDER.items() if k != "price"} | {"order_type": "MARKET", "quantity": 1}
    ok(execute(api_client, "place_order", account_id=trading.id, **market))
    deadline = time.monotonic() + 10  # the sandbox writes a request's log line after answering it
    while True:
        since = kite_settings.log_tail(1_000_000).splitlines()[seen:]
        if any("POST /orders/regular" in line for line in since):
            break
        assert time.monotonic() < deadline, since
        time.sleep(0.05)
    # Checked before sending and again just before (one prepare, one run): one quote call, not two.
    assert sum("/quote/ltp" in line for line in since) == 1, since


def reached_kite(user, account, tool: str, count: int, at) -> None:
    """`count` audit rows of order calls that reached Kite at `at` (as every path writes them)."""
    OrderAudit.objects.bulk_create([OrderAudit(user=user, username=user.username, path="api", account=account,
                                               tool=tool, outcome="sent") for _ in range(count)])
    OrderAudit.objects.filter(tool=tool, account=account).update(created_at=at)


def test_two_hundred_order_calls_a_minute_per_kite_user_are_kites_limit_too(api_client, trading, kite_settings,
                                                                            user):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    reached_kite(user, trading, "modify_order", 120, now - timedelta(seconds=40))
    reached_kite(user, trading, "place_order", 80, now - timedelta(seconds=20))
    answer = execute(api_client, "place_order", account_id=trading.id, **ORDER)
    error = error_of(answer, 429)
    assert error["type"] == "rate_limited" and "200 orders a minute" in error["message"], error
    assert 10 <= int(answer["Retry-After"]) <= 21  # when the oldest of the last 200 is a minute old
    assert sandbox_orders(kite_settings, trading) == []
    assert OrderAudit.objects.filter(outcome="refused", error_type="rate_limited").count() == 1


def test_three_thousand_orders_placed_a_day_per_kite_user_and_the_day_is_ists(db):
    from datetime import datetime

    from kite.errors import RateLimited
    from kite.ist import IST
    from kite.services.guardrails import order_rate_check
    from tests.factories import AccountFactory, UserFactory

    account = AccountFactory(user=UserFactory(), name="Busy", trading_enabled=True)
    morning = datetime(2026, 12, 3, 10, 0, tzinfo=IST)
    reached_kite(account.user, account, "place_order", 3000, morning)
    afternoon = morning.replace(hour=15)
    with pytest.raises(RateLimited, match="at most 3000 orders a day") as refused:
        order_rate_check(account=account, tool_name="place_order", now=afternoon)
    assert refused.value.retry_after == 9 * 3600  # until midnight IST
    order_rate_check(account=account, tool_name="cancel_order", now=afternoon)  # cancelling is still allowed
    order_rate_check(account=account, tool_name="place_order", now=datetime(2026, 12, 4, 0, 0, 1, tzinfo=IST))
