"""POST /kite/postback: Kite's order updates, verified by their checksum (SHA-256 of order_id +
order_timestamp + the app's api_secret), stored once and pushed to the owner's pages. Forged, replayed and
mismatched postbacks change nothing."""
from __future__ import annotations

import hashlib
import json
import time

import pytest
from django.test import Client

from accounts.models import Account
from kite import live
from kite.models import OrderUpdate
from tests.factories import AccountFactory
from tests.kite.test_flow import execute, ok

URL = "/kite/postback"


def checksum(order_id: str, order_timestamp: str, secret: str) -> str:
    return hashlib.sha256(f"{order_id}{order_timestamp}{secret}".encode()).hexdigest()


def payload(account: Account, *, secret: str | None = None, **changes) -> dict:
    """A postback as Kite sends it (kite.trade/docs/connect/v3/postbacks), signed with `secret` (by default
    the account's own)."""
    body = {
        "user_id": account.kite_user_id, "unfilled_quantity": 0, "app_id": 1234, "placed_by": account.kite_user_id,
        "order_id": "220303000308932", "exchange_order_id": "1000000001482421", "parent_order_id": None,
        "status": "COMPLETE", "status_message": None, "status_message_raw": None,
        "order_timestamp": "2026-11-25 09:24:25", "exchange_update_timestamp": "2026-11-25 09:24:25",
        "exchange_timestamp": "2026-11-25 09:24:25", "variety": "regular", "exchange": "NSE",
        "tradingsymbol": "SBIN", "instrument_token": 779521, "order_type": "MARKET", "transaction_type": "BUY",
        "validity": "DAY", "product": "CNC", "quantity": 1, "disclosed_quantity": 0, "price": 0,
        "trigger_price": 0, "average_price": 470.0, "filled_quantity": 1, "pending_quantity": 0,
        "cancelled_quantity": 0, "market_protection": 0, "meta": {}, "tag": None, "guid": "1Xd9zcWfa3Nm",
    }
    body.update(changes)
    body["checksum"] = checksum(body["order_id"], body["order_timestamp"],
                                secret if secret is not None else account.api_secret)
    return body


def post(client: Client, body, **extra):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(URL, data=raw, content_type="application/json", **extra)


@pytest.fixture
def kite_server():
    """A client as Kite's server is: no session, no CSRF cookie, and Django's CSRF check enforced."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def events(user):
    seen: list[dict] = []
    unsubscribe = live.subscribe(user.pk, seen.append)
    yield seen
    unsubscribe()


def test_a_valid_postback_is_stored_once_and_pushed_to_the_owners_pages(connected_account, kite_server, events,
                                                                         django_capture_on_commit_callbacks):
    body = payload(connected_account)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(kite_server, body)
    assert first.status_code == 200, first.content
    assert first.json() == {"status": "ok", "stored": True}
    [row] = OrderUpdate.objects.all()
    assert (row.account_id, row.order_id, row.status, row.source) == (connected_account.pk, "220303000308932",
                                                                       "COMPLETE", "postback")
    assert row.trading_day.isoformat() == "2026-11-25" and "checksum" not in row.payload
    assert [(e["type"], e["account_id"], e["order"]["status"]) for e in events] == [
        ("order", connected_account.pk, "COMPLETE")]

    # Kite retries; a replay of the same update is answered 200 and changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = post(kite_server, body)
    assert again.status_code == 200 and again.json() == {"status": "ok", "stored": False}
    assert OrderUpdate.objects.count() == 1 and len(events) == 1

    # The next state of the same order is a new update.
    with django_capture_on_commit_callbacks(execute=True):
        later = post(kite_server, payload(connected_account, status="UPDATE", filled_quantity=0))
    assert later.json()["stored"] is True
    assert OrderUpdate.objects.count() == 2 and len(events) == 2


@pytest.mark.parametrize("tamper", ["wrong secret", "order_id changed", "order_timestamp changed", "no checksum",
                                    "upper-case garbage"])
def test_a_forged_or_altered_postback_is_refused_with_403_and_records_nothing(
        connected_account, kite_server, events, tamper, django_capture_on_commit_callbacks):
    body = payload(connected_account, secret="not-the-secret" if tamper == "wrong secret" else None)
    if tamper == "order_id changed":
        body["order_id"] = "220303000308933"  # the checksum was made for ...932
    elif tamper == "order_timestamp changed":
        body["order_timestamp"] = "2026-11-25 09:24:26"
    elif tamper == "no checksum":
        body["checksum"] = ""
    elif tamper == "upper-case garbage":
        body["checksum"] = "F" * 64
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(kite_server, body)
    expected = 400 if tamper == "no checksum" else 403
    assert answer.status_code == expected, answer.content
    error = answer.json()["error"]
    assert error["type"] == ("invalid" if expected == 400 else "postback_unverified")
    assert connected_account.api_secret not in answer.content.decode()
    assert not OrderUpdate.objects.exists() and events == []


def test_a_postback_naming_another_account_verifies_only_with_that_accounts_secret(connected_account, kite_server,
                                                                                    other_user):
    other = AccountFactory(user=other_user, kite_user_id="ZX9876")
    # Signed with our secret, but naming the other account's Kite user: refused.
    assert post(kite_server, payload(connected_account, user_id="ZX9876")).status_code == 403
    # Signed with the other account's secret but naming ours: refused too.
    assert post(kite_server, payload(connected_account, secret=other.api_secret)).status_code == 403
    assert not OrderUpdate.objects.exists()
    # Each account's own postback lands on that account only.
    assert post(kite_server, payload(other, user_id="ZX9876")).status_code == 200
    assert list(OrderUpdate.objects.values_list("account_id", flat=True)) == [other.pk]


@pytest.mark.parametrize(("raw", "status", "kind"), [
    (b"{not json", 400, "parse_error"),
    (b"\xff\xfe", 400, "parse_error"),
    (b"[1, 2]", 400, "parse_error"),
    (json.dumps({"order_id": "1"}).encode(), 400, "invalid"),
    (json.dumps({"user_id": "AB1234", "order_id": "1", "order_timestamp": "yesterday", "checksum": "x"}).encode(),
     400, "invalid"),
    (json.dumps({"user_id": 5, "order_id": "1", "order_timestamp": "2026-11-25 09:24:25", "checksum": "x"}).encode(),
     400, "invalid"),
    (b"{" + b" " * 70_000 + b"}", 400, "invalid"),
])
def test_an_unreadable_postback_is_a_400_in_the_error_envelope(db, kite_server, raw, status, kind):
    answer = post(kite_server, raw)
    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["type"] == kind
    assert answer.json()["error"]["message"]
    assert not OrderUpdate.objects.exists()


def test_the_postback_url_takes_only_post(db, kite_server):
    assert kite_server.get(URL).status_code == 405


# --- End to end: the sandbox posts its order updates here --------------------------------------------

def test_the_sandbox_posts_an_order_update_that_is_verified_and_stored(live_server, api_client, user, kite_settings,
                                                                       connect):
    try:
        app = kite_settings.create_app(postback_url=f"{live_server.url}{URL}")
    except RuntimeError as exc:  # the sandbox without postbacks (helper h3-ticker adds them)
        pytest.skip(f"the sandbox does not take postback_url yet: {exc}")
    account = Account.objects.create(user=user, name="Postbacks", environment="live", api_key=app["api_key"],
                                     api_secret=app["api_secret"], trading_enabled=True)
    connect(account)
    placed = ok(execute(api_client, "place_order", account_id=account.id, exchange="NSE", tradingsymbol="ITC",
                        transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not OrderUpdate.objects.filter(order_id=placed["order_id"]).exists():
        time.sleep(0.2)  # the sandbox delivers off its request thread
    rows = list(OrderUpdate.objects.filter(order_id=placed["order_id"]).values_list("account_id", "source", "status"))
    assert rows, f"no postback arrived; the sandbox's log:\n{kite_settings.log_tail()}"
    assert {(a, s) for a, s, _ in rows} == {(account.pk, "postback")}
    assert "COMPLETE" in {status for _, _, status in rows}
