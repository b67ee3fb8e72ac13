"""Adding a write tool is one registry entry: the REST API, the MCP confirmation, the audit log and the
Orders page all take what they need from it, with no edit of their own."""
from __future__ import annotations

from datetime import timedelta

import anyio
import pytest
from django.test import Client
from django.utils import timezone
from mcp import Client as McpClient
from mcp import types
from pydantic import Field

from accounts.models import Account
from kite import tools
from kite.models import OrderAudit
from mcp_bridge.scope import McpScope
from mcp_bridge.server import KiteMcp
from tests.factories import AccountFactory

SENT: list[dict] = []


class BellArgs(tools.ToolArgs):
    times: int = Field(ge=1, le=3)


def _ring(ctx: tools.ToolContext, args: BellArgs) -> dict:
    SENT.append({"account": ctx.account.pk, "times": args.times})
    return {"bell_id": f"BELL-{len(SENT)}"}


BELL = tools.Tool("ring_bell", "Ring the bell", "Rings the desk bell (a throw-away tool of the tests).", BellArgs,
                  _ring, rate_class="orders", write=tools.Write(lambda a: f"ring {a.times} time(s)", creates="bell_id",
                                                                 unknown_outcome="listen for the bell."))


@pytest.fixture
def bell(monkeypatch):
    SENT.clear()
    monkeypatch.setitem(tools.TOOLS, BELL.name, BELL)
    return BELL


def ready_account(user, **flags) -> Account:
    return AccountFactory(user=user, name="Desk", access_token="tok", trading_enabled=True,
                          token_expires_at=timezone.now() + timedelta(hours=1), **flags)


def test_a_new_write_tool_is_listed_gated_sent_once_audited_and_shown_on_the_orders_page(bell, user, api_client):
    account = ready_account(user)
    listed = {t["name"]: t for t in api_client.get("/api/kite/tools").json()}
    assert listed["ring_bell"]["read_only"] is False
    answer = api_client.post("/api/kite/execute", {"tool": "ring_bell", "args": {"account_id": account.id,
                                                                                 "times": 2}}, format="json")
    assert answer.status_code == 200 and answer.json() == {"data": {"bell_id": "BELL-1"}}
    assert SENT == [{"account": account.id, "times": 2}]
    Account.objects.filter(pk=account.pk).update(trading_enabled=False)
    refused = api_client.post("/api/kite/execute", {"tool": "ring_bell", "args": {"account_id": account.id,
                                                                                  "times": 1}}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "trading_disabled"
    assert len(SENT) == 1
    audit = list(OrderAudit.objects.order_by("id").values_list("tool", "outcome", "order_id", "summary"))
    summary = 'Ring the bell on Kite account "Desk" (LIVE account: real money): ring {} time(s).'
    assert audit == [("ring_bell", "sent", "BELL-1", summary.format(2)),
                     ("ring_bell", "refused", "", summary.format(1))]
    page = Client()
    page.force_login(user)
    html = page.get("/orders/", {"account": account.id}).content.decode()
    assert summary.format(2).replace('"', "&quot;") in html and "BELL-1" in html


def test_a_new_write_tool_is_confirmed_by_the_human_over_mcp_with_its_own_words(bell, transactional_db):
    from tests.factories import UserFactory

    user = UserFactory(username="carol")
    account = ready_account(user)
    asked: list[str] = []

    async def human(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": len(asked) == 1})  # yes, then no

    server = KiteMcp(McpScope(user=user))

    async def session() -> tuple[types.CallToolResult, types.CallToolResult, list[types.Tool]]:
        async with McpClient(server.server, elicitation_callback=human, mode="legacy") as client:
            listed = (await client.list_tools()).tools
            yes = await client.call_tool("ring_bell", {"times": 3})
            no = await client.call_tool("ring_bell", {"times": 1})
            return yes, no, listed

    try:
        yes, no, listed = anyio.run(session)
    finally:
        server.close()
    hints = next(t for t in listed if t.name == "ring_bell").annotations
    assert (hints.read_only_hint, hints.destructive_hint) == (False, True)
    assert not yes.is_error and yes.structured_content == {"bell_id": "BELL-1"}
    assert no.is_error and no.structured_content["error"]["type"] == "order_declined"
    assert SENT == [{"account": account.id, "times": 3}]
    assert asked[0].startswith('Ring the bell on Kite account "Desk" (LIVE account: real money): ring 3 time(s).')
    assert list(OrderAudit.objects.order_by("id").values_list("path", "outcome", "order_id")) == [
        ("mcp", "sent", "BELL-1"), ("mcp", "declined", "")]
