"""Kite's rate limits against a sandbox that enforces them: our pacing avoids 429s (twenty orders at once
included), reads that still get one are retried, and an order is never sent twice."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from kiteconnect import KiteConnect

from accounts.models import Account
from kite.errors import ServiceError
from kite.models import OrderAudit
from kite.services.execution import tool_execute
from kite.services.provisioning import sandbox_provision
from kite.services.sessions import session_create
from tests.fixtures.sandbox import TRADING_TIME, start_sandbox


@pytest.fixture(scope="module")
def strict_sandbox(tmp_path_factory):
    handle = start_sandbox(tmp_path_factory.mktemp("strict-sandbox"), extra_env={"KITE_SANDBOX_RATE_LIMITS": "on"})
    handle.set_clock(TRADING_TIME)
    yield handle
    handle.stop()


@pytest.fixture
def strict_account(user, settings, strict_sandbox) -> Account:
    settings.KITE_SANDBOX_URL = strict_sandbox.url
    account = sandbox_provision(account=Account.objects.create(user=user, name="Strict",
                                                                        environment="sandbox",
                                                                        trading_enabled=True))
    return session_create(account=account, request_token=strict_sandbox.login(account.api_key))


def ltp(user, account):
    return tool_execute(user=user, tool_name="get_ltp",
                                 arguments={"account_id": account.id, "instruments": ["NSE:INFY"]})


def test_the_sandbox_really_answers_429_past_the_quote_limit(strict_account, strict_sandbox):
    kite = KiteConnect(api_key=strict_account.api_key, access_token=strict_account.access_token,
                       root=strict_sandbox.url)
    with pytest.raises(Exception, match="Too many requests"):
        for _ in range(3):
            kite.ltp("NSE:INFY")


def refusals(sandbox) -> int:
    """Kite's 429s so far, from the sandbox's request log (`"GET /quote/ltp?... HTTP/1.1" 429`)."""
    return len(re.findall(r'HTTP/1\.1" 429(?!\d)', sandbox.log_tail(1_000_000)))


def test_pacing_keeps_quotes_under_the_limit(user, strict_account, settings, strict_sandbox):
    settings.KITE_RATE_LIMITS = True
    before = refusals(strict_sandbox)
    for _ in range(3):  # 1 a second: the second and third wait for their slot instead of earning a 429
        assert ltp(user, strict_account)["NSE:INFY"]["last_price"] > 0
    assert refusals(strict_sandbox) == before  # not one 429 (a retry would have hidden it)


def test_a_read_that_gets_a_429_is_retried(user, strict_account, settings, strict_sandbox):
    settings.KITE_RATE_LIMITS = False  # no pacing: the sandbox refuses the second call, the retry succeeds
    before = refusals(strict_sandbox)
    ltp(user, strict_account)
    assert ltp(user, strict_account)["NSE:INFY"]["last_price"] > 0
    assert refusals(strict_sandbox) > before


def test_an_order_that_gets_a_429_is_not_retried(user, strict_account, settings, strict_sandbox):
    """Another program on the same Kite app spends the second's 10 orders; ours then meets Kite's 429."""
    settings.KITE_RATE_LIMITS = False
    other = KiteConnect(api_key=strict_account.api_key, access_token=strict_account.access_token,
                        root=strict_sandbox.url)
    order = {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY", "product": "CNC",
             "order_type": "LIMIT", "price": 100.0}  # far below the market: nothing fills
    outcomes, theirs = [], 0
    for attempt in range(5):  # bounded: a round slower than a second simply does not meet the limit
        for _ in range(10):
            try:
                other.place_order(variety="regular", quantity=1, **order)
                theirs += 1
            except Exception as exc:  # their own 429, once the second is spent
                assert "Too many requests" in str(exc), exc
        try:
            tool_execute(user=user, tool_name="place_order",
                         arguments={"account_id": strict_account.id, "quantity": attempt + 2, **order})
            outcomes.append("sent")
        except ServiceError as error:
            outcomes.append(error.status)
        if 429 in outcomes:
            break
    assert 429 in outcomes
    book = other.orders()
    assert len(book) == theirs + outcomes.count("sent")  # each refused order reached Kite once, and only once
    audits = list(OrderAudit.objects.values_list("outcome", flat=True))
    assert audits.count("sent") == outcomes.count("sent") and audits.count("failed") == outcomes.count(429)


def test_the_largest_quote_list_is_paced_not_refused(user, strict_account, settings, strict_sandbox):
    settings.KITE_RATE_LIMITS = True
    before = refusals(strict_sandbox)
    wanted = ["NSE:INFY"] + [f"NSE:NOSUCH{i}" for i in range(1999)]  # 2000: four calls of 500, 1 a second
    answer = tool_execute(user=user, tool_name="get_quotes",
                                   arguments={"account_id": strict_account.id, "instruments": wanted})
    assert list(answer) == ["NSE:INFY"]
    assert refusals(strict_sandbox) == before


@pytest.mark.django_db(transaction=True)  # each order's thread writes its own audit row
def test_twenty_parallel_orders_meet_no_429_from_kite(user, strict_account, settings, strict_sandbox):
    """Each is sent, or refused by our pacing before anything is sent (and audited so); Kite refuses none."""
    settings.KITE_RATE_LIMITS = True
    before = refusals(strict_sandbox)
    order = {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY", "product": "CNC",
             "order_type": "LIMIT", "price": 100.0}

    def place(quantity: int) -> str:
        try:
            tool_execute(user=user, tool_name="place_order",
                         arguments={"account_id": strict_account.id, "quantity": quantity, **order})
            return "sent"
        except ServiceError as error:
            return error.type
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(place, range(1, 21)))
    assert refusals(strict_sandbox) == before  # not one 429 from Kite
    assert strict_sandbox.log_tail(1_000_000).count("POST /orders/regular HTTP/1.1") >= outcomes.count("sent")
    assert set(outcomes) <= {"sent", "rate_limited"}, outcomes
    print("twenty parallel orders:", outcomes.count("sent"), "sent,", outcomes.count("rate_limited"), "refused here")
    assert outcomes.count("sent") >= 10
    kite = KiteConnect(api_key=strict_account.api_key, access_token=strict_account.access_token,
                       root=strict_sandbox.url)
    assert len(kite.orders()) == outcomes.count("sent")
    audits = list(OrderAudit.objects.values_list("outcome", "error_type"))
    assert len(audits) == 20 and audits.count(("sent", "")) == outcomes.count("sent")
    assert all(error == "rate_limited" for outcome, error in audits if outcome != "sent")
