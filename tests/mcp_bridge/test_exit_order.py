"""`exit_order` over MCP against the sandbox: the human confirms it, it is sent once and audited with
the leg's id; Kite's refusal comes back as an error in Kite's words; bad arguments are refused
before anyone is asked. The cover order is placed with the official client on the account's session
(the registry's place_order has no cover-order form)."""
from __future__ import annotations

from kiteconnect import KiteConnect

from kite.models import OrderAudit
from tests.mcp_bridge.conftest import accept


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def test_exit_order_over_mcp_confirmed_refused_and_invalid(server_env, paper, mcp, kite_settings):
    account = paper()
    kite = KiteConnect(api_key=account.api_key, access_token=account.access_token, root=kite_settings.url)
    last = kite.ltp("NSE:ITC")["NSE:ITC"]["last_price"]
    entry = kite.place_order(variety="co", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY", quantity=4,
                             product="MIS", order_type="MARKET", market_protection=-1,
                             trigger_price=tick(last * 0.99))
    (leg,) = [o["order_id"] for o in kite.orders() if o["parent_order_id"] == entry]
    regular = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                               quantity=1, product="MIS", order_type="LIMIT", price=tick(last * 0.95))
    a = {"account_id": account.id}
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        exited = session.ok("exit_order", a | {"order_id": leg, "parent_order_id": entry})
        refused_text, refused = session.error("exit_order", a | {"order_id": regular})
        bad_text, bad = session.error("exit_order", a | {"order_id": leg, "variety": "regular"})
    assert exited == {"order_id": leg}
    orders = {o["order_id"]: o for o in kite.orders()}
    assert (orders[leg]["status"], orders[leg]["filled_quantity"]) == ("COMPLETE", 4)
    assert orders[regular]["status"] == "OPEN"
    assert refused["type"] == "InputException" and "not a cover order" in refused_text
    assert bad["type"] == "invalid" and "variety" in bad_text
    asked = [q.message for q in human.asked]
    assert len(asked) == 2 and f"cover order {leg} (parent {entry})" in asked[0]
    assert list(OrderAudit.objects.order_by("id").values_list("tool", "outcome", "order_id")) == [
        ("exit_order", "sent", leg), ("exit_order", "failed", ""), ("exit_order", "refused", "")]
