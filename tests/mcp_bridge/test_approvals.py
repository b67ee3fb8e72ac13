"""Clients that cannot ask (Claude Desktop, claude.ai): an order waits for the human's Approve on the web
app's approval page, is sent once from there, and nothing else can decide it."""
from __future__ import annotations

import re
from datetime import timedelta

import anyio
import pytest
from django.test import Client
from django.utils import timezone
from mcp import ClientSession, types
from mcp.client.stdio import stdio_client

from accounts.models import Account
from accounts.tokens import api_token_create
from kite.models import Approval, OrderAudit
from tests.factories import UserFactory
from tests.mcp_bridge.conftest import CALL_TIMEOUT, sandbox_orders, server_parameters


def order(account: Account, **changes: object) -> dict[str, object]:
    return {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
            "quantity": 3, "product": "CNC", "order_type": "MARKET"} | changes


def browser(user) -> Client:
    """A signed-in browser whose POSTs must carry the CSRF token, as a real one's do."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def decide(client: Client, approval_id: int, decision: str):
    page = client.get(f"/orders/approvals/{approval_id}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    data = {"decision": decision, **({"csrfmiddlewaretoken": token.group(1)} if token else {})}
    return client.post(f"/orders/approvals/{approval_id}/", data)


def audit_outcomes() -> list[tuple[str, str, str]]:
    return list(OrderAudit.objects.order_by("id").values_list("path", "outcome", "error_type"))


def test_without_elicitation_the_order_waits_and_the_owners_approve_sends_it_once(server_env, paper, mcp, alice,
                                                                                  kite_settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:  # no callback: the client declares no elicitation
        waiting = session.ok("place_order", order(account))
        assert waiting["status"] == "awaiting_approval"
        assert waiting["approve_url"] == f"http://testserver/orders/approvals/{waiting['approval_id']}/"
        assert waiting["expires_at"].endswith("+05:30") and "BUY 3 × NSE:INFY" in waiting["summary"]
        assert session.ok("get_approval", {"approval_id": waiting["approval_id"]})["status"] == "pending"
        assert sandbox_orders(kite_settings, account) == []  # nothing reached Kite

        owner = browser(alice)
        page = owner.get(f"/orders/approvals/{waiting['approval_id']}/").content.decode()
        assert "Approve" in page and "Decline" in page and "BUY 3 × NSE:INFY" in page
        assert 'data-pending-approvals="1"' in owner.get("/orders/").content.decode()

        # Nothing but the owner's signed-in POST decides: a script with a token, another user.
        token, _ = api_token_create(user=alice)
        scripted = Client().post(f"/orders/approvals/{waiting['approval_id']}/", {"decision": "approve"},
                                 HTTP_AUTHORIZATION=f"Token {token}")
        assert scripted.status_code == 302 and "/login/" in scripted["Location"]
        assert decide(browser(UserFactory(username="mallory")), waiting["approval_id"], "approve").status_code == 404
        assert sandbox_orders(kite_settings, account) == []

        answer = decide(owner, waiting["approval_id"], "approve")
        assert answer.status_code == 302
        again = decide(owner, waiting["approval_id"], "approve")  # used once
        assert again.status_code == 302
        decided = session.ok("get_approval", {"approval_id": waiting["approval_id"]})
    book = sandbox_orders(kite_settings, account)
    assert len(book) == 1 and decided["status"] == "approved" and decided["order_id"] == book[0]["order_id"]
    assert book[0]["quantity"] == 3
    assert audit_outcomes() == [("mcp", "awaiting", ""), ("web", "sent", "")]
    messages = [m.message for m in again.wsgi_request._messages]
    assert any("already" in m for m in messages), messages


def test_a_declined_or_expired_approval_sends_nothing_and_cannot_be_approved(server_env, paper, mcp, alice,
                                                                            kite_settings, settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        first = session.ok("place_order", order(account))["approval_id"]
        second = session.ok("place_order", order(account, quantity=4))["approval_id"]
    owner = browser(alice)
    decide(owner, first, "decline")
    Approval.objects.filter(pk=second).update(expires_at=timezone.now() - timedelta(seconds=1))
    decide(owner, second, "approve")
    decide(owner, first, "approve")
    assert dict(Approval.objects.values_list("id", "status")) == {first: "declined", second: "expired"}
    assert sandbox_orders(kite_settings, account) == []
    listed = Client()
    listed.force_login(alice)
    api = listed.get("/api/kite/approvals").json()
    assert [(a["id"], a["status"], a["order_id"]) for a in api] == [(second, "expired", None),
                                                                     (first, "declined", None)]
    assert set(api[0]) == {"id", "account_id", "tool", "arguments", "status", "summary", "created_at", "expires_at",
                           "decided_at", "order_id", "error", "approve_url"}
    assert sorted(o for _, o, _ in audit_outcomes()) == ["awaiting", "awaiting", "declined", "expired"]


def test_guardrails_are_checked_again_when_the_approval_is_decided(server_env, paper, mcp, alice, kite_settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        approval_id = session.ok("place_order", order(account, quantity=100))["approval_id"]
    Account.objects.filter(pk=account.pk).update(max_order_value=1000)  # tightened after the order was asked
    page = browser(alice).get(f"/orders/approvals/{approval_id}/").content.decode()
    assert "max_order_value" in page  # the preview already says so
    decide(browser(alice), approval_id, "approve")
    approval = Approval.objects.get(pk=approval_id)
    assert approval.status == "failed" and approval.error_type == "guardrail"
    assert "max_order_value" in approval.error and "₹1,000.00" in approval.error
    assert sandbox_orders(kite_settings, account) == []
    assert audit_outcomes()[-1] == ("web", "refused", "guardrail")


@pytest.mark.parametrize("limit, quantity, refused", [(None, 3, False), (1000, 100, True)])
def test_the_guardrail_refuses_over_mcp_before_anyone_is_asked(server_env, paper, mcp, kite_settings, limit, quantity,
                                                               refused):
    account = paper(confirm=False)
    Account.objects.filter(pk=account.pk).update(max_order_value=limit)
    with mcp(server_env(user="alice")) as session:
        result = session.call("place_order", order(account, quantity=quantity))
        duplicate = session.call("place_order", order(account, quantity=quantity))
    if refused:
        assert result.is_error and result.structured_content["error"]["type"] == "guardrail"
        assert "₹1,000.00" in result.content[0].text and "max_order_value" in result.content[0].text
        assert sandbox_orders(kite_settings, account) == []
    else:
        assert not result.is_error
        assert duplicate.is_error and "duplicate" in duplicate.content[0].text  # the same order again, at once
        assert len(sandbox_orders(kite_settings, account)) == 1


class _UrlOnlySession(ClientSession):
    """A client that can open a URL for the human (URL-mode elicitation) but has no forms."""

    def _build_capabilities(self, version: str) -> types.ClientCapabilities:
        capabilities = super()._build_capabilities(version)
        capabilities.elicitation = types.ElicitationCapability(url=types.UrlElicitationCapability())
        return capabilities


def test_a_client_with_url_elicitation_is_asked_to_open_the_approval_page(server_env, paper, kite_settings):
    account = paper()
    opened: list[types.ElicitRequestParams] = []

    async def human(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        opened.append(params)
        return types.ElicitResult(action="accept")

    async def scenario() -> types.CallToolResult:
        async with stdio_client(server_parameters(server_env(user="alice"))) as (read, write), \
                _UrlOnlySession(read, write, elicitation_callback=human, read_timeout_seconds=CALL_TIMEOUT) as session:
            await session.initialize()
            return await session.call_tool("place_order", order(account))

    result = anyio.run(scenario)
    assert not result.is_error and result.structured_content["status"] == "awaiting_approval"
    [asked] = opened
    assert asked.mode == "url" and asked.url == result.structured_content["approve_url"]
    assert sandbox_orders(kite_settings, account) == []


def test_the_duplicate_rule_holds_on_the_approval_page(server_env, paper, mcp, alice, kite_settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        first = session.ok("place_order", order(account))["approval_id"]
        second = session.ok("place_order", order(account))["approval_id"]  # nothing sent yet: no duplicate so far
    owner = browser(alice)
    decide(owner, first, "approve")
    decide(owner, second, "approve")
    statuses = dict(Approval.objects.values_list("id", "status"))
    assert statuses == {first: "approved", second: "failed"}
    assert "duplicate" in Approval.objects.get(pk=second).error
    assert len(sandbox_orders(kite_settings, account)) == 1
