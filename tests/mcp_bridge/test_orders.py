"""Orders over MCP: refused without trading, confirmed by the human through elicitation, audited with path mcp."""
from __future__ import annotations

import re
from datetime import timedelta

import anyio
import pytest
from django.utils import timezone
from mcp import Client, ClientSession, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from accounts.models import Account
from kite.models import OrderAudit
from mcp_bridge.models import PendingConfirmation
from tests.mcp_bridge.conftest import CALL_TIMEOUT, Elicitations, accept, sandbox_orders, server_parameters


def order(account: Account, **changes: object) -> dict[str, object]:
    return {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
            "quantity": 3, "product": "CNC", "order_type": "MARKET"} | changes


def audits() -> list[tuple[str, str, str, str]]:
    return list(OrderAudit.objects.order_by("id").values_list("path", "tool", "outcome", "error_type"))


def test_order_the_human_confirms_is_sent_and_filled(server_env, paper, mcp):
    account = paper()
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        placed = session.ok("place_order", order(account))
        history = session.ok("get_order_history", {"account_id": account.id, "order_id": placed["order_id"]})
        book = session.ok("get_orders", {"account_id": account.id})["result"]
    [asked] = human.asked
    for shown in ('"Paper"', "paper money", "BUY 3 × NSE:INFY, MARKET", "product CNC", "variety regular",
                  "validity DAY"):
        assert shown in asked.message, shown
    assert asked.requested_schema["properties"]["confirm"]["type"] == "boolean"
    # The same figures as the approval page: value, margin and Kite's charges.
    assert re.search(r"Estimated value ₹[\d,]+\.\d\d; margin needed ₹[\d,]+\.\d\d; Kite's charges ₹[\d,.]+",
                     asked.message), asked.message
    assert history["result"][-1]["status"] == "COMPLETE"
    # Kite's 2026 rule: the MARKET order went out with automatic market protection, and the sandbox took it.
    assert history["result"][-1]["market_protection"] == -1
    assert [o["order_id"] for o in book] == [placed["order_id"]]
    assert OrderAudit.objects.values_list("path", "tool", "outcome", "order_id").get() == \
        ("mcp", "place_order", "sent", placed["order_id"])


def test_modify_and_cancel_are_confirmed_showing_the_order_id_and_the_changes(server_env, paper, mcp,
                                                                             kite_settings):
    account = paper()
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        ltp = session.ok("get_ltp", {"account_id": account.id, "instruments": ["NSE:INFY"]})["NSE:INFY"]["last_price"]
        low, lower = round(ltp * 0.8, 1), round(ltp * 0.75, 1)  # far below the market: the order stays open
        placed = session.ok("place_order", order(account, order_type="LIMIT", price=low, validity="DAY"))
        oid = placed["order_id"]
        session.ok("modify_order", {"account_id": account.id, "order_id": oid, "quantity": 5, "price": lower})
        session.ok("cancel_order", {"account_id": account.id, "order_id": oid})
        history = session.ok("get_order_history", {"account_id": account.id, "order_id": oid})["result"]
    place, modify, cancel = (q.message for q in human.asked)
    assert f"LIMIT at {low:,.2f}" in place and "validity DAY" in place
    assert modify.startswith("Modify an order") and f"order {oid} (regular): " in modify
    assert "quantity → 5" in modify and f"price → {lower:,.2f}" in modify
    assert cancel.startswith("Cancel an order") and f"order {oid} (regular) (now BUY 5 NSE:INFY LIMIT at " in cancel
    # The question names the order as it is now, not only its id: what was modified, still open.
    assert f"{lower:,.2f}, CNC, OPEN)." in cancel and "now BUY 3 NSE:INFY LIMIT at" in modify
    assert (history[-1]["status"], history[-1]["quantity"], history[-1]["price"]) == ("CANCELLED", 5, lower)
    assert [(t, o) for _, t, o, _ in audits()] == [("place_order", "sent"), ("modify_order", "sent"),
                                                   ("cancel_order", "sent")]


@pytest.mark.parametrize(("answer", "kind"), [
    (types.ElicitResult(action="decline"), "order_declined"),
    (types.ElicitResult(action="cancel"), "order_cancelled"),
    (types.ElicitResult(action="accept", content={"confirm": False}), "order_declined"),
], ids=["decline", "cancel", "accept-unticked"])
def test_order_the_human_does_not_confirm_is_not_sent(server_env, paper, mcp, kite_settings, answer, kind):
    account = paper()
    human = Elicitations(answer)
    with mcp(server_env(user="alice"), elicitation=human) as session:
        text, error = session.error("place_order", order(account))
    assert len(human.asked) == 1
    assert error["type"] == kind and "nothing was sent" in text
    assert sandbox_orders(kite_settings, account) == []
    assert audits() == [("mcp", "place_order", "declined", kind)]


def test_trading_disabled_is_refused_before_anyone_is_asked(server_env, paper, mcp, kite_settings):
    account = paper(trading=False)
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        text, error = session.error("place_order", order(account))
    assert error["type"] == "trading_disabled" and text.startswith("trading_disabled: ")
    assert human.asked == []
    assert sandbox_orders(kite_settings, account) == []
    assert audits() == [("mcp", "place_order", "refused", "trading_disabled")]


def test_with_confirm_orders_off_orders_go_through_without_asking(server_env, paper, mcp, kite_settings):
    account = paper(confirm=False)
    human = Elicitations()  # declares elicitation, but would fail the call if asked
    with mcp(server_env(user="alice"), elicitation=human) as session:
        placed = session.ok("place_order", order(account))
        text, error = session.error("place_order", order(account, tradingsymbol="NOSUCHSTOCK"))
    assert human.asked == []
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [placed["order_id"]]
    # Kite's own error_type and message, as a tool error.
    assert error["type"].endswith("Exception") and error["message"].startswith("Kite: ")
    assert text.startswith(f"{error['type']}: Kite: ")
    assert [(o, e) for _, _, o, e in audits()] == [("sent", ""), ("failed", error["type"])]


# --- The 2026-07-28 protocol: no server-to-client requests; the form rides an InputRequiredResult --------

def test_2026_protocol_asks_through_the_input_required_round_trip(server_env, paper, kite_settings):
    account = paper()
    human = accept()

    async def scenario() -> tuple[str, types.CallToolResult]:
        async with Client(server_parameters(server_env(user="alice")), elicitation_callback=human,
                          read_timeout_seconds=CALL_TIMEOUT) as client:
            return client.protocol_version, await client.call_tool("place_order", order(account))

    version, result = anyio.run(scenario)
    assert version == "2026-07-28"
    assert not result.is_error, result.content
    assert len(human.asked) == 1 and "BUY 3 × NSE:INFY" in human.asked[0].message
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [result.structured_content["order_id"]]
    assert audits() == [("mcp", "place_order", "sent", "")]


YES = {"confirm_order": types.ElicitResult(action="accept", content={"confirm": True})}
NO = {"confirm_order": types.ElicitResult(action="decline")}


def round_trips(env: dict[str, str], *steps: tuple[dict, str | int | None, dict | None]
                ) -> list[types.CallToolResult | types.InputRequiredResult | MCPError]:
    """One `runmcp` speaking 2026-07-28, and place_order calls made by hand: (arguments, request_state, answers)
    each; a state given as a number is the state of that earlier result. An MCPError is returned, not raised."""
    async def scenario() -> list[types.CallToolResult | types.InputRequiredResult | MCPError]:
        results: list[types.CallToolResult | types.InputRequiredResult | MCPError] = []
        async with stdio_client(server_parameters(env)) as (read, write), \
                ClientSession(read, write, elicitation_callback=Elicitations(),
                              read_timeout_seconds=CALL_TIMEOUT) as session:
            await session.discover()
            for arguments, state, answers in steps:
                if isinstance(state, int):
                    state = results[state].request_state
                try:
                    results.append(await session.call_tool("place_order", arguments, input_responses=answers,
                                                           request_state=state, allow_input_required=True))
                except MCPError as error:
                    results.append(error)
        return results
    return anyio.run(scenario)


def test_2026_confirmation_counts_once_and_only_for_the_order_shown(server_env, paper, kite_settings):
    account = paper()
    env = server_env(user="alice")
    asked, declined, replayed, switched, forged, fresh, sent = round_trips(
        env, (order(account), None, None), (order(account), 0, NO),
        (order(account), 0, YES),  # a yes to a question already answered
        (order(account, quantity=50), 2, YES),  # a yes to 3 shares is no yes to 50
        (order(account), "v1.bm90LWEtc3RhdGUtb2YtdGhpcy1zZXJ2ZXI", YES),
        (order(account, quantity=50), None, None), (order(account, quantity=50), 5, YES))
    assert isinstance(asked, types.InputRequiredResult) and "confirm_order" in asked.input_requests
    assert isinstance(declined, types.CallToolResult) and declined.structured_content["error"]["type"] == \
        "order_declined"
    assert isinstance(replayed, types.InputRequiredResult)  # asked afresh, not sent
    # A state the server did not seal for this very call is refused before any handler runs: nothing sent.
    for refused in (switched, forged):
        assert isinstance(refused, MCPError) and refused.error.code == types.INVALID_PARAMS
        assert refused.error.message == "Invalid or expired requestState"
    assert "BUY 50" in fresh.input_requests["confirm_order"].params.message
    assert isinstance(sent, types.CallToolResult) and not sent.is_error, sent
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [sent.structured_content["order_id"]]
    # The question declined and the one answered are gone; the one refused at the wire waits to expire.
    assert PendingConfirmation.objects.count() == 1


def test_2026_a_yes_counts_once_even_replayed_and_from_another_runmcp_process(server_env, paper, kite_settings):
    """The question lives in the database: a second `runmcp` (a restart, another worker) finishes it, and the
    same answer given again, to either process, is asked afresh and sends nothing more."""
    account = paper()
    env = server_env(user="alice")
    [asked] = round_trips(env, (order(account), None, None))
    assert isinstance(asked, types.InputRequiredResult)
    assert sandbox_orders(kite_settings, account) == []
    [row] = PendingConfirmation.objects.all()
    assert row.user.username == "alice" and row.account_id == account.id and "BUY 3" in row.summary
    assert asked.request_state not in (row.token_hash, row.fingerprint)  # the row keeps a hash; the wire, a seal

    [sent] = round_trips(env, (order(account), asked.request_state, YES))
    assert isinstance(sent, types.CallToolResult) and not sent.is_error, sent
    # Past the 30 s duplicate rule (which would refuse the same order anyway), the same yes again, in a third
    # process: that question was answered, so it is asked afresh and nothing more is sent.
    OrderAudit.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    [replayed] = round_trips(env, (order(account), asked.request_state, YES))
    assert isinstance(replayed, types.InputRequiredResult)
    assert [o["order_id"] for o in sandbox_orders(kite_settings, account)] == [sent.structured_content["order_id"]]
    assert audits() == [("mcp", "place_order", "sent", "")]


def test_2026_a_question_nobody_answered_in_time_sends_nothing_and_is_audited_as_expired(server_env, paper,
                                                                                       kite_settings):
    account = paper()
    env = server_env(user="alice")
    [asked] = round_trips(env, (order(account), None, None))
    PendingConfirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    late, = round_trips(env, (order(account), asked.request_state, YES))
    assert isinstance(late, types.InputRequiredResult)  # too late: asked afresh, not sent
    assert sandbox_orders(kite_settings, account) == []
    [expired] = OrderAudit.objects.all()
    assert (expired.path, expired.tool, expired.outcome, expired.account_id) == ("mcp", "place_order", "expired",
                                                                                account.id)
    assert "BUY 3" in expired.summary and "nothing was sent" in expired.message
    assert expired.arguments["quantity"] == 3
    assert PendingConfirmation.objects.count() == 1  # the fresh question


def test_a_malformed_answer_after_kite_took_the_order_is_settled_over_mcp(base_env, paper, mcp, kite_settings):
    from tests.kite.test_lost_answers import Garbler

    account = paper(confirm=False)
    garbler = Garbler(kite_settings.url)
    try:
        env = base_env(user="alice") | {"KITE_SANDBOX_URL": garbler.url}
        with mcp(env) as session:
            placed = session.ok("place_order", order(account, order_type="LIMIT", price=1000.0))
    finally:
        garbler.close()
    [sent] = sandbox_orders(kite_settings, account)
    assert placed == {"order_id": sent["order_id"]}
    assert OrderAudit.objects.values_list("path", "outcome", "order_id").get() == ("mcp", "sent", sent["order_id"])
