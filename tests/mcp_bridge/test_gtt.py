"""A GTT proposed over MCP: the human confirms the sentence saying what fires when; it fires in the
sandbox when the price moves, and the Portfolio page shows it, then shows it triggered."""
from __future__ import annotations

import re

from django.test import Client

from kite.models import OrderAudit
from tests.mcp_bridge.conftest import accept


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def gtt_status(page: str, trigger_id: int) -> str | None:
    found = re.search(rf'<tr data-gtt-id="{trigger_id}" data-gtt-status="([a-z]+)"', page)
    return found.group(1) if found else None


def test_a_gtt_over_mcp_is_confirmed_in_words_fires_and_shows_on_the_portfolio(server_env, paper, mcp, alice,
                                                                               kite_settings):
    account = paper()
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        holdings = session.ok("get_holdings", {"account_id": account.id})["result"]
        holding = holdings[0]
        symbol, quantity = holding["tradingsymbol"], int(holding["quantity"])
        last = session.ok("get_ltp", {"account_id": account.id,
                                      "instruments": [f"NSE:{symbol}"]})[f"NSE:{symbol}"]["last_price"]
        trigger, price = tick(last * 0.95), tick(last * 0.945)
        placed = session.ok("place_gtt", {
            "account_id": account.id, "trigger_type": "single", "exchange": "NSE", "tradingsymbol": symbol,
            "trigger_values": [trigger], "last_price": last,
            "orders": [{"transaction_type": "SELL", "quantity": quantity, "price": price}]})
    [asked] = human.asked
    sentence = (f"SELL {quantity} NSE:{symbol} at {price:,.2f} (LIMIT, CNC) if the price falls to {trigger:,.2f}")
    assert sentence in asked.message, asked.message
    trigger_id = placed["trigger_id"]
    audit = OrderAudit.objects.get()
    assert (audit.path, audit.tool, audit.outcome, audit.order_id) == ("mcp", "place_gtt", "sent", str(trigger_id))

    browser = Client()
    browser.force_login(alice)
    page = browser.get("/portfolio/").content.decode()
    assert gtt_status(page, trigger_id) == "active" and f'data-gtt-id="{trigger_id}" title="GTT' in page
    kite_settings.move_price(f"NSE:{symbol}", -7)
    page = browser.get("/portfolio/data?account=all").content.decode()
    assert gtt_status(page, trigger_id) == "triggered"
    orders = browser.get(f"/orders/?account={account.id}").content.decode()
    assert gtt_status(orders, trigger_id) == "triggered" and "→ order" in orders
