"""What the human is asked over MCP: the tool's own sentence for the write, and a fingerprint binding the
answer to exactly that write."""
from __future__ import annotations

from accounts.models import Account
from kite.services.execution import ToolCall
from kite.tools import TOOLS
from mcp_bridge.confirm import describe, fingerprint


def call(tool: str, account: Account | None = None, **arguments: object) -> ToolCall:
    account = account or Account(pk=7, name="Main", environment="live")
    return ToolCall(tool=TOOLS[tool], args=TOOLS[tool].validate({"account_id": account.pk, **arguments}),
                    account=account, user=None, path="mcp")  # type: ignore[arg-type]


def test_the_question_is_the_tools_own_sentence_and_says_nothing_is_sent_without_a_yes():
    order = call("place_order", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                 product="CNC", order_type="MARKET")
    text = describe(order)
    assert text.splitlines()[0] == order.tool.summary(order.args, order.account)
    assert "BUY 1 × NSE:INFY" in text and text.endswith("Nothing is sent unless you confirm.")


def test_the_fingerprint_changes_with_any_parameter_or_account():
    base = dict(exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1, product="CNC",
                order_type="MARKET")
    same = fingerprint(call("place_order", **base))
    assert fingerprint(call("place_order", **base)) == same
    assert fingerprint(call("place_order", **(base | {"quantity": 2}))) != same
    assert fingerprint(call("place_order", Account(pk=8, name="Other", environment="live"), **base)) != same
