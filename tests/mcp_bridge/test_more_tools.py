"""The newer write tools over MCP against the sandbox: the same registry entries as on REST, each sent
once after the human's yes, refused by Kite in Kite's words, or refused for bad arguments."""
from __future__ import annotations

from kite.models import OrderAudit
from tests.mcp_bridge.conftest import accept


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def test_gtt_mutual_fund_sip_and_conversion_tools_over_mcp(server_env, paper, mcp):
    account = paper()
    a = {"account_id": account.id}
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        last = session.ok("get_ltp", a | {"instruments": ["NSE:ITC"]})["NSE:ITC"]["last_price"]
        low = tick(last * 0.9)
        gtt = session.ok("place_gtt", a | {"trigger_type": "single", "exchange": "NSE", "tradingsymbol": "ITC",
                                            "trigger_values": [low], "last_price": last,
                                            "orders": [{"transaction_type": "BUY", "quantity": 1, "price": low}]})
        modified = session.ok("modify_gtt", a | {"trigger_id": gtt["trigger_id"], "trigger_type": "single",
                                                  "exchange": "NSE", "tradingsymbol": "ITC",
                                                  "trigger_values": [tick(low * 0.99)], "last_price": last,
                                                  "orders": [{"transaction_type": "BUY", "quantity": 2,
                                                              "price": tick(low * 0.99)}]})
        deleted = session.ok("delete_gtt", a | {"trigger_id": gtt["trigger_id"]})
        [scheme, *_] = session.ok("search_mf_instruments", a | {"query": "nifty"})["result"]
        mf = session.ok("place_mf_order", a | {"tradingsymbol": scheme["tradingsymbol"], "transaction_type": "BUY",
                                               "amount": 1000.0})
        session.ok("cancel_mf_order", a | {"order_id": mf["order_id"]})
        sip = session.ok("place_mf_sip", a | {"tradingsymbol": scheme["tradingsymbol"], "amount": 500.0,
                                              "instalments": 6, "frequency": "monthly", "instalment_day": 10})
        session.ok("modify_mf_sip", a | {"sip_id": sip["sip_id"], "amount": 700.0})
        session.ok("cancel_mf_sip", a | {"sip_id": sip["sip_id"]})
        session.ok("place_order", a | {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY",
                                       "quantity": 3, "product": "MIS", "order_type": "MARKET"})
        converted = session.ok("convert_position", a | {"exchange": "NSE", "tradingsymbol": "ITC",
                                                         "transaction_type": "BUY", "position_type": "day",
                                                         "quantity": 3, "old_product": "MIS", "new_product": "CNC"})
        refused_text, refused = session.error("cancel_mf_sip", a | {"sip_id": "999999999"})  # Kite says no
        bad_text, bad = session.error("place_mf_order", a | {"tradingsymbol": scheme["tradingsymbol"],
                                                            "transaction_type": "SELL", "amount": 10.0})
    assert modified["trigger_id"] == deleted["trigger_id"] == gtt["trigger_id"] and converted == {"converted": True}
    assert refused["type"].endswith("Exception") and "Kite: " in refused_text
    assert bad["type"] == "invalid" and "quantity" in bad_text
    asked = [q.message.splitlines()[0] for q in human.asked]
    assert len(asked) == 11  # every write, each asked once; the refused one too, the invalid one never
    assert asked[0].startswith('Place a GTT on Kite account "Paper"') and "if the price falls to" in asked[0]
    assert any("₹500.00 monthly on day 10" in q for q in asked) and any("from MIS to CNC" in q for q in asked)
    # A write on something that exists names it as it is now, not only by its id.
    assert any(q.startswith("Delete a GTT") and "(now NSE:ITC at " in q and ", active)." in q for q in asked)
    assert any(q.startswith("Change a SIP") and "(now ₹500.00 monthly into " in q for q in asked)
    sent = list(OrderAudit.objects.filter(outcome="sent").order_by("id").values_list("tool", "order_id"))
    assert [t for t, _ in sent] == ["place_gtt", "modify_gtt", "delete_gtt", "place_mf_order", "cancel_mf_order",
                                    "place_mf_sip", "modify_mf_sip", "cancel_mf_sip", "place_order",
                                    "convert_position"]
    assert dict(sent)["place_mf_sip"] == sip["sip_id"]
    assert OrderAudit.objects.filter(tool="cancel_mf_sip", outcome="failed").count() == 1
