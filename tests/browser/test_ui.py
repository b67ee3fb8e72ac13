"""The web UI in a real browser: sign in, add and connect a sandbox account, a live portfolio, orders, sign out.

Each test sets up its data with the ORM first, then opens Chromium (see conftest.py for why).
Screenshots of every page at 1280 px and 390 px land in artifacts/screenshots/ (SCREENSHOT_DIR overrides).
"""
from __future__ import annotations

import re

import pytest

from accounts.models import Account
from kite.services.execution import tool_execute
from tests.browser.conftest import in_thread, open_browser, screenshot, session_cookie
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
TIMEOUT = 15_000  # ms: generous for a loaded CI machine; a passing run takes a fraction of it


@pytest.fixture(autouse=True)
def _expect_waits_longer_than_a_refresh():
    """Playwright's `expect` waits 5 s by default, whatever the page's own timeout: exactly one refresh
    period of the portfolio, so a check that waits for the next refresh failed on a loaded machine."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    yield
    expect.set_options(timeout=5_000)


def place_order(user, account_id: int) -> dict:
    Account.objects.filter(pk=account_id).update(trading_enabled=True)
    return tool_execute(user=user, tool_name="place_order", path="web", arguments={
        "account_id": account_id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
        "quantity": 1, "product": "CNC", "order_type": "MARKET"})


def test_sign_in_add_connect_watch_the_portfolio_move_and_sign_out(app_url, kite_settings):
    from playwright.sync_api import expect

    sandbox = kite_settings
    user = UserFactory(username="asha", password=PASSWORD)

    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=app_url,
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)

        # Sign in.
        page.goto("/portfolio/")
        expect(page).to_have_url(re.compile(r"/login/\?next=/portfolio/$"))
        screenshot(page, "signin")
        page.get_by_label("Username").fill("asha")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{app_url}/portfolio/")
        expect(page.get_by_text("No accounts yet")).to_be_visible()

        # Add a sandbox account: it needs no key or secret.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        expect(page).to_have_url(f"{app_url}/settings/accounts/")
        expect(page.locator("#redirect-url")).to_have_value(f"{app_url}/kite/callback")
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == f"{app_url}/kite/callback"
        page.get_by_role("link", name="Add account").first.click()
        expect(page.get_by_label("API key")).to_be_visible()
        screenshot(page, "add-account")
        page.get_by_label("Name", exact=True).fill("Paper")
        page.get_by_role("radio", name=re.compile("Sandbox")).check()
        expect(page.get_by_label("API key")).to_be_hidden()
        page.get_by_role("button", name="Add account").click()
        expect(page).to_have_url(f"{app_url}/settings/accounts/")
        expect(page.locator(".msg-success")).to_contain_text("Added Paper")
        card = page.locator('[data-account-name="Paper"]')
        expect(card.locator(".badge.status-needs-login")).to_have_text("needs login")

        # Connect: through the sandbox's own login page, and back through /kite/callback.
        card.get_by_role("button", name="Connect").click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(sandbox.url)}/connect/login\?"))
        page.get_by_role("button", name="Authorize").click()
        expect(page).to_have_url(f"{app_url}/settings/accounts/")
        expect(page.locator(".msg-success")).to_contain_text("Connected Paper")
        expect(card.locator(".badge.status-connected")).to_have_text(re.compile(r"^connected until .+ IST$"))
        page.locator("#redirect-url").scroll_into_view_if_needed()
        screenshot(page, "settings-accounts")

        # The portfolio: holdings, totals, positions, margin.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio").click()
        expect(page).to_have_url(f"{app_url}/portfolio/")
        rows = page.locator("table.holdings tbody tr")
        expect(rows.first).to_be_visible()
        for name in ("invested", "value", "pnl", "day", "available"):
            expect(page.locator(f'[data-total="{name}"]')).to_have_text(re.compile(r"\d"))
        expect(page.get_by_role("heading", name=re.compile("^Positions"))).to_be_visible()

        # A price move in the sandbox shows up by itself, without a reload.
        symbol = rows.first.get_attribute("data-symbol")
        exchange = rows.first.locator(".exchange").inner_text()
        price = page.locator(f'table.holdings tr[data-symbol="{symbol}"] [data-field="last_price"]')
        before = price.inner_text()
        page.evaluate("window.__notReloaded = true")
        in_thread(sandbox.move_price, f"{exchange}:{symbol}", 7.5)
        expect(price).not_to_have_text(before, timeout=TIMEOUT)
        assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
        assert float(price.inner_text().replace(",", "")) > float(before.replace(",", ""))

        # An order placed elsewhere (here: straight through the service) shows up as a position, also by itself.
        order = in_thread(place_order, user, in_thread(lambda: Account.objects.get(user=user, name="Paper").pk))
        expect(page.locator('table.positions tr[data-symbol="INFY"]')).to_be_visible()
        assert page.evaluate("window.__notReloaded") is True, "the page was reloaded"
        screenshot(page, "portfolio")

        # Orders: today's orders and trades, and the audit log.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
        expect(page.locator(f'tr[data-order-id="{order["order_id"]}"]')).to_be_visible()
        expect(page.locator("table.audit")).to_contain_text(
            "BUY 1 × NSE:INFY, MARKET, market protection automatic (-1)")
        screenshot(page, "orders")

        # Sign out.
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{app_url}/login/")
        expect(page.locator(".msg")).to_have_text("You are signed out.")
        page.goto("/portfolio/")
        expect(page).to_have_url(re.compile(r"/login/\?next="))


def test_the_portfolio_refresh_pauses_while_the_tab_is_hidden(app_url, connected_account, user):
    from playwright.sync_api import expect

    cookie = session_cookie(user, app_url)
    data_requests: list[str] = []

    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=app_url)
        context.add_cookies([cookie])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.clock.install()  # timers under the test's control: no waiting for real seconds
        page.on("request", lambda r: data_requests.append(r.url) if "/portfolio/data" in r.url else None)
        page.goto("/portfolio/")
        expect(page.locator("table.holdings tbody tr").first).to_be_visible()

        with page.expect_request(re.compile(r"/portfolio/data\?account=all$")):
            page.clock.run_for(5_500)  # one refresh period
        expect(page.locator("#portfolio-data")).to_have_attribute("data-refreshed", re.compile(r"\d"))

        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", {value: true, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
        expect(page.locator("#live-status")).to_contain_text("Paused while this tab is hidden")
        seen = len(data_requests)
        page.clock.run_for(60_000)  # twelve periods: none may fetch while hidden

        with page.expect_request(re.compile(r"/portfolio/data")):
            page.evaluate("""() => {
                Object.defineProperty(document, "hidden", {value: false, configurable: true});
                document.dispatchEvent(new Event("visibilitychange"));
            }""")
        # The request that arrived is the one the tab's return triggered: nothing went out while hidden.
        assert len(data_requests) == seen + 1
        expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
