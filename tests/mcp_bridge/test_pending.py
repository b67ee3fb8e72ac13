"""The questions of the 2026-07-28 round trip, in the database (mcp_bridge.confirm): used once, only by the user
asked and only for the write shown, expired ones audited. The end-to-end runs over stdio and HTTP are in
test_orders.py and test_remote_confirmations.py; these pin the rules on the rows themselves."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kite.models import OrderAudit
from kite.services.execution import ToolCall
from kite.tools import TOOLS
from mcp_bridge.confirm import pending_answer, pending_ask, pending_expire
from mcp_bridge.models import PendingConfirmation
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def call(account, **changes) -> ToolCall:
    tool = TOOLS["place_order"]
    arguments = {"account_id": account.pk, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                 "quantity": 3, "product": "CNC", "order_type": "LIMIT", "price": 1500} | changes
    return ToolCall(tool=tool, args=tool.validate(arguments), account=account, user=account.user, path="mcp")


@pytest.fixture
def account():
    return AccountFactory(user=UserFactory(username="alice"), name="Main", trading_enabled=True)


def test_an_answer_counts_once_and_the_row_keeps_only_a_hash_of_the_token(account):
    token = pending_ask(call(account), ttl_seconds=60)
    [row] = PendingConfirmation.objects.all()
    assert token not in (row.token_hash, row.fingerprint) and len(row.token_hash) == 64
    assert "BUY 3 × NSE:INFY" in row.summary
    assert pending_answer(call(account), token) is True
    assert pending_answer(call(account), token) is False
    assert not PendingConfirmation.objects.exists()


@pytest.mark.parametrize("token", [None, "", "no-such-token"])
def test_no_token_or_an_unknown_one_answers_nothing(account, token):
    pending_ask(call(account), ttl_seconds=60)
    assert pending_answer(call(account), token) is False
    assert PendingConfirmation.objects.count() == 1  # the real question still waits


def test_another_order_or_another_user_gets_no_yes_and_another_order_uses_the_question_up(account):
    token = pending_ask(call(account), ttl_seconds=60)
    stranger = AccountFactory(user=UserFactory(username="bob"), name="Main", trading_enabled=True)
    assert pending_answer(call(stranger), token) is False
    assert PendingConfirmation.objects.count() == 1  # not bob's to use up
    assert pending_answer(call(account, quantity=30), token) is False
    assert pending_answer(call(account), token) is False  # used up by the wrong order: asked afresh
    assert not OrderAudit.objects.exists()


def test_expired_questions_are_audited_once_and_give_no_yes(account):
    late = pending_ask(call(account), ttl_seconds=60)
    pending_ask(call(account, quantity=5), ttl_seconds=60)
    PendingConfirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert pending_answer(call(account), late) is False  # the late answer expires its own question
    assert pending_expire() == 1  # the other one
    assert pending_expire() == 0
    rows = list(OrderAudit.objects.order_by("id").values_list("path", "tool", "outcome", "account_id"))
    assert rows == [("mcp", "place_order", "expired", account.pk)] * 2
    assert sorted(a["quantity"] for a in OrderAudit.objects.values_list("arguments", flat=True)) == [3, 5]
    assert not PendingConfirmation.objects.exists()


def test_the_admin_lists_questions_read_only_without_the_token_hash(admin_client, account):
    pending_ask(call(account), ttl_seconds=60)
    row = PendingConfirmation.objects.get()
    listing = admin_client.get("/admin/mcp_bridge/pendingconfirmation/")
    assert listing.status_code == 200 and "BUY 3" in listing.content.decode()
    page = admin_client.get(f"/admin/mcp_bridge/pendingconfirmation/{row.pk}/change/")
    assert page.status_code == 200
    assert row.token_hash not in page.content.decode() and row.fingerprint not in page.content.decode()
    assert admin_client.post(f"/admin/mcp_bridge/pendingconfirmation/{row.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
    assert PendingConfirmation.objects.count() == 1
