"""A confirmation asked over `/mcp` (the 2026-07-28 input-required round trip) is finished by any worker process:
the question is a row in the database, the client's `requestState` a seal every process can open. Two app
processes behind one public URL stand for `make serve`'s workers (gunicorn does not route a client back to the
process that asked it): the question is asked by one and answered through the other.

It counts once (two answers at once through both processes send one order), only for the user and the OAuth
client that were asked, and only for the order shown.
"""
from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from kite.models import OrderAudit
from mcp_bridge.models import PendingConfirmation
from tests.factories import UserFactory
from tests.mcp_bridge.conftest import Elicitations, sandbox_orders
from tests.mcp_bridge.remote import CALL_TIMEOUT, AppServer, Bearer, app_server_running, mint_token

YES = {"confirm_order": types.ElicitResult(action="accept", content={"confirm": True})}
Result = types.CallToolResult | types.InputRequiredResult | MCPError


@pytest.fixture
def two_workers(server_env, tmp_path, no_proxy) -> Any:
    """Two app processes on one database, both knowing themselves by the first one's URL (their public URL)."""
    with app_server_running(server_env, tmp_path / "a.log") as first, \
            app_server_running(server_env, tmp_path / "b.log", base_url=first.url) as second:
        yield first, second


def order(account: Any, quantity: int) -> dict[str, Any]:
    return {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
            "quantity": quantity, "product": "CNC", "order_type": "LIMIT", "price": 1000}


def place(server: AppServer, token: str, arguments: dict[str, Any], state: str | None = None,
          answers: dict[str, Any] | None = None) -> Result:
    """place_order over the server's /mcp in the 2026-07-28 revision, by hand (no automatic retry)."""
    return parallel((server, token, arguments, state, answers))[0]


def parallel(*calls: tuple[AppServer, str, dict[str, Any], str | None, dict[str, Any] | None]) -> list[Result]:
    """The calls at the same time, each on its own connection; an MCPError is returned, not raised."""
    async def one(server: AppServer, token: str, arguments: dict[str, Any], state: str | None,
                  answers: dict[str, Any] | None) -> Result:
        async with httpx2.AsyncClient(auth=Bearer(token), timeout=CALL_TIMEOUT) as http:
            transport = streamable_http_client(server.mcp, http_client=http)
            # Declares form elicitation (so the server asks, rather than sending the order to the approvals page);
            # the retry with the answer is made here by hand.
            async with Client(transport, mode="2026-07-28", read_timeout_seconds=CALL_TIMEOUT,
                              elicitation_callback=Elicitations()) as client:
                try:
                    return await client.session.call_tool("place_order", arguments, input_responses=answers,
                                                          request_state=state, allow_input_required=True)
                except MCPError as error:
                    return error

    async def all_of() -> list[Result]:
        results: list[Result | None] = [None] * len(calls)

        async def run(index: int, call: tuple[Any, ...]) -> None:
            results[index] = await one(*call)
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(run, index, call)
        return [r for r in results if r is not None]
    with start_blocking_portal() as portal:
        return portal.call(all_of)


def refused_at_the_wire(result: Result) -> bool:
    return isinstance(result, MCPError) and result.error.code == types.INVALID_PARAMS \
        and result.error.message == "Invalid or expired requestState"


def test_one_worker_asks_another_finishes_and_only_the_client_that_was_asked_can(two_workers, alice, paper,
                                                                                kite_settings):
    first, second = two_workers
    account = paper("Paper", trading=True, confirm=True)
    token = mint_token(alice)
    asked = place(first, token, order(account, 2))
    assert isinstance(asked, types.InputRequiredResult), asked
    assert "BUY 2 × NSE:INFY" in asked.input_requests["confirm_order"].params.message
    assert PendingConfirmation.objects.filter(user=alice, account=account).count() == 1

    # Someone else's token, or alice's own through another OAuth client: refused before anything runs.
    bob = UserFactory(username="bob")
    for stranger in (mint_token(bob), mint_token(alice)):
        assert refused_at_the_wire(place(second, stranger, order(account, 2), asked.request_state, YES))
    assert sandbox_orders(kite_settings, account) == []

    sent = place(second, token, order(account, 2), asked.request_state, YES)
    assert isinstance(sent, types.CallToolResult) and not sent.is_error, (sent, second.log_tail())
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [sent.structured_content["order_id"]]
    assert not PendingConfirmation.objects.exists()
    audit = list(OrderAudit.objects.values_list("path", "outcome", "order_id"))
    assert audit == [("mcp", "sent", sent.structured_content["order_id"])]


def test_the_same_yes_through_two_workers_at_once_sends_one_order(two_workers, alice, paper, kite_settings):
    first, second = two_workers
    account = paper("Paper", trading=True, confirm=True)
    token = mint_token(alice)
    asked = place(first, token, order(account, 4))
    assert isinstance(asked, types.InputRequiredResult), asked

    answers = parallel((first, token, order(account, 4), asked.request_state, YES),
                       (second, token, order(account, 4), asked.request_state, YES))
    sent = [r for r in answers if isinstance(r, types.CallToolResult) and not r.is_error]
    assert len(sent) == 1, answers
    # The other finds the question used: asked afresh, or refused by the duplicate rule. Either way, not sent.
    [other] = [r for r in answers if r is not sent[0]]
    assert isinstance(other, types.InputRequiredResult) or (
        isinstance(other, types.CallToolResult) and other.structured_content["error"]["type"] == "guardrail"), other
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [sent[0].structured_content["order_id"]]
    assert list(OrderAudit.objects.filter(outcome="sent").values_list("order_id", flat=True)) == \
        [sent[0].structured_content["order_id"]]
