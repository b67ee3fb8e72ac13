"""An AI client that cannot ask (no MCP elicitation) proposes an order; the human approves it in a real
browser on the approval page, and it is sent once."""
from __future__ import annotations

import os
import re

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client

from accounts.models import Account
from kite.models import Approval
from kite.services.sessions import session_create
from tests.browser.conftest import in_thread, open_browser, screenshot, session_cookie
from tests.factories import UserFactory
from tests.mcp_bridge.conftest import CALL_TIMEOUT, database_url, sandbox_orders, server_parameters

pytestmark = pytest.mark.browser
TIMEOUT = 15_000


def test_an_order_from_a_client_that_cannot_ask_is_approved_in_the_browser_and_sent_once(app_url, kite_settings):
    from playwright.sync_api import expect

    user = UserFactory(username="ravi")
    app = kite_settings.create_app(f"{app_url}/kite/callback")
    account = Account.objects.create(user=user, name="Paper", environment="sandbox", api_key=app["api_key"],
                                     api_secret=app["api_secret"], trading_enabled=True, confirm_orders=True)
    session_create(account=account, request_token=kite_settings.login(account.api_key))
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": database_url(),
           "FIELD_ENCRYPTION_KEY": os.environ["FIELD_ENCRYPTION_KEY"], "KITE_RATE_LIMITS": "off",
           "APP_BASE_URL": app_url, "KITE_MCP_USER": "ravi", "KITE_MCP_ACCOUNTS": "",
           "KITE_SANDBOX_URL": kite_settings.url}

    async def propose() -> dict:
        async with stdio_client(server_parameters(env)) as (read, write), \
                ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as session:  # no elicitation
            await session.initialize()
            result = await session.call_tool("place_order", {
                "account_id": account.id, "exchange": "NSE", "tradingsymbol": "SBIN", "transaction_type": "BUY",
                "quantity": 2, "product": "CNC", "order_type": "MARKET"})
            assert not result.is_error, result.content
            return result.structured_content

    waiting = anyio.run(propose)
    assert waiting["status"] == "awaiting_approval" and waiting["approve_url"].startswith(app_url)
    assert sandbox_orders(kite_settings, account) == []
    cookie = session_cookie(user, app_url)

    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=app_url)
        context.add_cookies([cookie])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto("/orders/")
        expect(page.locator("[data-pending-approvals]")).to_have_text("1", timeout=TIMEOUT)
        page.locator(f'tr[data-approval-id="{waiting["approval_id"]}"]').get_by_role("link", name="Review").click()
        expect(page).to_have_url(waiting["approve_url"], timeout=TIMEOUT)
        expect(page.locator("[data-approval-summary]")).to_contain_text("BUY 2 × NSE:SBIN", timeout=TIMEOUT)
        expect(page.locator('[data-preview="order_value"]')).to_have_text(re.compile(r"₹[\d,]+\.\d\d"),
                                                                          timeout=TIMEOUT)
        screenshot(page, "approval")
        page.get_by_role("button", name=re.compile("^Approve")).click()
        expect(page.locator("[data-approval-status]")).to_have_attribute("data-approval-status", "approved",
                                                                         timeout=TIMEOUT)
        expect(page.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0, timeout=TIMEOUT)
        expect(page.locator("[data-pending-approvals]")).to_have_count(0, timeout=TIMEOUT)

    approval = in_thread(Approval.objects.get, pk=waiting["approval_id"])
    book = in_thread(sandbox_orders, kite_settings, account)
    assert approval.status == "approved" and [o["order_id"] for o in book] == [approval.order_id]
