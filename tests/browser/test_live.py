"""Truly live pages in a real Chromium: the app under uvicorn (ASGI, so the event stream works), `runticker`
following the sandbox's ticker, a price moved in the sandbox changes the Portfolio page with no reload and no
poll, and an order Kite rejects shows its notice on the Orders page as it happens.

Data is set up with the ORM before the browser opens (see conftest.py).
"""
from __future__ import annotations

import re

import pytest

from accounts.models import Account
from tests.browser.conftest import open_browser, screenshot, session_cookie
from tests.kite.test_live import Runticker, Uvicorn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20_000  # ms: generous for a loaded machine; a passing run takes a fraction of it


def rupees(value: float) -> str:
    """As the pages print money (en-IN grouping, two decimals)."""
    whole, fraction = f"{value:.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail]) + "." + fraction


def signed_rupees(value: float) -> str:
    cents = round(value, 2)
    return f"+{rupees(cents)}" if cents > 0 else f"-{rupees(-cents)}" if cents < 0 else rupees(0)


@pytest.fixture
def app(transactional_db, settings, user, connected_account, kite_settings, tmp_path):
    """(url, account, holdings): the app under uvicorn and runticker pushing to it, for a connected account."""
    from kite.services.execution import tool_execute

    holdings = tool_execute(user=user, tool_name="get_holdings", arguments={"account_id": connected_account.pk})
    assert holdings, "the sandbox account starts with holdings"
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    server = Uvicorn().start()
    settings.APP_BASE_URL = server.url
    ticker = Runticker(server.url, kite_settings.url, tmp_path / "runticker.log")
    try:
        yield server.url, connected_account, holdings
    finally:
        code = ticker.stop()
        server.stop()
    assert code == 0, ticker.log()


def test_a_sandbox_price_move_changes_the_portfolio_without_a_reload_or_a_poll(app, user, kite_settings):
    from playwright.sync_api import expect

    url, account, holdings = app
    held = holdings[0]
    cookie = session_cookie(user, url)
    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
        context.add_cookies([cookie])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if "/portfolio/data" in r.url else None)
        page.goto("/portfolio/")
        status = page.locator("#live-status")
        expect(status).to_have_text("Live (streaming)", timeout=TIMEOUT)
        expect(status).to_have_attribute("data-mode", "streaming")
        row = page.locator(f'table.holdings tr[data-exchange="{held["exchange"]}"]'
                           f'[data-symbol="{held["tradingsymbol"]}"]')
        expect(row).to_be_visible()
        page.evaluate("window.__same_page = true")  # gone if the page reloads
        screenshot(page, "portfolio-streaming")

        polls_before = len(polls)
        moved = kite_settings.move_price(f"{held['exchange']}:{held['tradingsymbol']}", 7.5)
        expect(row.locator('[data-field="last_price"]')).to_have_text(rupees(moved), timeout=TIMEOUT)
        expect(row.locator('[data-field="value"]')).to_have_text(rupees(moved * held["quantity"]))
        pnl = moved * held["quantity"] - held["average_price"] * held["quantity"]
        expect(row.locator('[data-field="pnl"] span').first).to_have_text(signed_rupees(pnl))
        expect(page.locator('[data-total="value"]')).not_to_have_text("—")
        assert page.evaluate("window.__same_page") is True
        assert len(polls) == polls_before  # the stream did it: no fetch of the portfolio in between
        expect(status).to_have_text("Live (streaming)")


def test_the_portfolio_says_it_polls_when_the_ticker_is_not_running(transactional_db, settings, user,
                                                                   connected_account, kite_settings):
    from playwright.sync_api import expect

    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    server = Uvicorn().start()  # the stream works, but no runticker: nothing says the ticker is connected
    try:
        cookie = session_cookie(user, server.url)
        with open_browser() as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url)
            context.add_cookies([cookie])
            page = context.new_page()
            page.set_default_timeout(TIMEOUT)
            page.goto("/portfolio/")
            expect(page.locator("table.holdings tbody tr").first).to_be_visible()
            with page.expect_request(re.compile(r"/portfolio/data\?account=all$"), timeout=TIMEOUT):
                pass  # it polls
            expect(page.locator("#live-status")).to_have_text("Polling every 5 s")
            expect(page.locator("#live-status")).to_have_attribute("data-mode", "polling")
    finally:
        server.stop()


def test_an_order_kite_rejects_shows_its_notice_on_the_orders_page(app, user):
    from playwright.sync_api import expect

    from kite.services.execution import tool_execute
    from tests.browser.conftest import in_thread

    url, account, holdings = app
    held = holdings[0]
    Account.objects.filter(pk=account.pk).update(trading_enabled=True)
    cookie = session_cookie(user, url)
    with open_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
        context.add_cookies([cookie])
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"/orders/?account={account.pk}")
        expect(page.locator("#orders-live")).to_contain_text("Live (streaming)", timeout=TIMEOUT)

        # Selling far more than is held: Kite (the sandbox's RMS) takes the order and rejects it.
        placed = in_thread(tool_execute, user=user, tool_name="place_order", path="web", arguments={
            "account_id": account.pk, "exchange": held["exchange"], "tradingsymbol": held["tradingsymbol"],
            "transaction_type": "SELL", "quantity": int(held["quantity"]) + 1000, "product": "CNC",
            "order_type": "LIMIT", "price": held["last_price"]})
        notice = page.locator(f'[data-order-notice="{placed["order_id"]}"]')
        expect(notice).to_be_visible(timeout=TIMEOUT)
        expect(notice).to_contain_text(f"Order {placed['order_id']}")
        expect(notice).to_contain_text("was rejected by Kite")
        expect(page.locator(f'tr[data-order-id="{placed["order_id"]}"]')).to_have_attribute("data-status", "REJECTED")
        screenshot(page, "orders-rejected")
