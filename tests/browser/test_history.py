"""The History page in Chromium: the vendored Chart.js draws the value series under the page's
Content-Security-Policy (no CDN, no inline script), and the CSV export downloads."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from kite.ist import IST
from kite.models import HoldingSnapshot, PortfolioSnapshot, TradeRecord
from tests.browser.conftest import SCREENSHOTS, WIDTHS, open_browser, session_cookie
from tests.factories import AccountFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT = 15_000  # ms


def test_the_history_page_draws_the_value_chart_under_the_csp_and_exports_csv(live_server):
    user = UserFactory(username="hist")
    account = AccountFactory(user=user, name="Kept")
    today = date.today()
    days = [today - timedelta(days=n) for n in (4, 3, 2)]
    for n, day in enumerate(days):
        snap = PortfolioSnapshot.objects.create(account=account, date=day, value=1000 + 50 * n, invested=1000,
                                                pnl=50 * n, taken_at=datetime.combine(day, time(16), tzinfo=IST))
        HoldingSnapshot.objects.create(snapshot=snap, exchange="NSE", tradingsymbol="ITC", quantity=10,
                                       average_price=100, close_price=100 + 5 * n, value=1000 + 50 * n, pnl=50 * n)
    TradeRecord.objects.create(account=account, trade_id="T1", order_id="O1", exchange="NSE", tradingsymbol="ITC",
                               product="CNC", transaction_type="BUY", quantity=10, price=100,
                               fill_timestamp=datetime.combine(days[0], time(10), tzinfo=IST), trading_day=days[0])
    cookie = session_cookie(user, live_server.url)
    problems: list[str] = []
    with open_browser() as browser:
        context = browser.new_context(accept_downloads=True)
        context.add_cookies([cookie])
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{live_server.url}/history/", timeout=TIMEOUT)
        page.wait_for_selector("canvas#history-chart[data-chart-ready='3']", timeout=TIMEOUT)
        drawn = page.evaluate("() => { const c = document.getElementById('history-chart');"
                              " return [c.width, c.height, window.Chart.getChart(c).data.datasets[0].data]; }")
        assert drawn[0] > 0 and drawn[1] > 0 and drawn[2] == [1000, 1050, 1100]
        assert page.locator("nav a[aria-current='page']").inner_text() == "History"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in WIDTHS.items():  # the chart follows the width (Chart.js resizes on the next frame)
            page.set_viewport_size({"width": width, "height": height})
            fits = f"() => document.getElementById('history-chart').getBoundingClientRect().right <= {width}"
            page.wait_for_function(fits, timeout=TIMEOUT)
            page.screenshot(path=str(SCREENSHOTS / f"history-{width}.png"), full_page=True, animations="disabled")
        with page.expect_download(timeout=TIMEOUT) as download:
            page.click("[data-csv-export]")
        text = open(download.value.path(), encoding="utf-8").read()
        context.close()
    assert text.splitlines()[0].startswith("date,fill_timestamp,exchange,tradingsymbol")
    assert ",ITC,CNC,BUY,10.0,100.0," in text
    assert problems == [], problems  # a CSP refusal is a console error
