"""History kept per account: `manage.py snapshot` against the sandbox through the official client, day by day
through last week, then the History page, its CSV export and the tools over REST and MCP. And the pure part:
FIFO realised P&L, date ranges."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from kiteconnect import KiteConnect

from accounts.models import Account
from kite.history import Fill, day_range, realised_by_day
from kite.ist import IST
from kite.models import HoldingSnapshot, OrderUpdate, PortfolioSnapshot, TradeRecord
from tests.factories import AccountFactory
from tests.fixtures.sandbox import PROJECT_ROOT, TRADING_TIME
from tests.kite.test_flow import error_of, execute, ok
from tests.mcp_bridge.conftest import base_env, mcp, server_env  # noqa: F401 - fixtures

MONDAY = TRADING_TIME.date() - timedelta(days=TRADING_TIME.weekday() + 7)  # Monday of the week before
WEEK = [MONDAY + timedelta(days=n) for n in range(4)]  # Monday to Thursday
FRIDAY = MONDAY + timedelta(days=4)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST)


def official(sandbox, account: Account) -> KiteConnect:
    account.refresh_from_db()
    return KiteConnect(api_key=account.api_key, access_token=account.access_token, root=sandbox.url)


def market(api_client, account: Account, side: str, symbol: str, quantity: int) -> str:
    return ok(execute(api_client, "place_order", account_id=account.id, exchange="NSE", tradingsymbol=symbol,
                      transaction_type=side, quantity=quantity, product="CNC", order_type="MARKET"))["order_id"]


def snapshot(account: Account, day: date) -> str:
    out = io.StringIO()
    call_command("snapshot", account=account.pk, date=day.isoformat(), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def page_chart(html: str) -> dict:
    found = re.search(r'<script id="history-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def test_last_weeks_trades_and_values_are_kept_by_snapshot_and_shown_on_the_page_csv_rest_and_mcp(
        kite_settings, api_client, connected_account, connect, server_env, mcp):  # noqa: F811 - fixtures
    sandbox, account = kite_settings, connected_account
    Account.objects.filter(pk=account.pk).update(trading_enabled=True)
    plan = {WEEK[0]: [("BUY", "ITC", 10)], WEEK[1]: [("BUY", "INFY", 4), ("BUY", "ITC", 2)],
            WEEK[2]: [("SELL", "ITC", 11)], WEEK[3]: []}
    fills: dict[date, list[dict]] = {}  # the sandbox's own trades, read with the official client
    values: dict[date, float] = {}  # the sandbox's holdings value at each close, likewise
    for day, orders in plan.items():
        sandbox.set_clock(at(day, 10))
        connect(account)  # Kite's sessions end at 06:00 every morning: a new login each day
        for side, symbol, quantity in orders:
            market(api_client, account, side, symbol, quantity)
        sandbox.set_clock(at(day, 15, 45))  # after the close
        kite = official(sandbox, account)
        fills[day] = kite.trades()
        holdings = kite.holdings()
        values[day] = sum(round(h["quantity"] * h["last_price"], 2) for h in holdings)
        line = snapshot(account, day)
        assert f"{day.isoformat()} {len(holdings)} holding(s) stored, {len(orders)} new trade(s)" in line
    assert [len(fills[d]) for d in WEEK] == [1, 2, 1, 0]

    # Idempotent: the same day again changes nothing.
    before = (list(TradeRecord.objects.values_list("id", "trade_id")), list(OrderUpdate.objects.values_list("id")),
              list(PortfolioSnapshot.objects.values_list("id", "date", "value", "taken_at")),
              list(HoldingSnapshot.objects.values_list("id", "quantity", "close_price")))
    assert "unchanged, 0 new trade(s), 0 new order state(s)" in snapshot(account, WEEK[3])
    assert before == (list(TradeRecord.objects.values_list("id", "trade_id")),
                      list(OrderUpdate.objects.values_list("id")),
                      list(PortfolioSnapshot.objects.values_list("id", "date", "value", "taken_at")),
                      list(HoldingSnapshot.objects.values_list("id", "quantity", "close_price")))

    trades = [t for d in WEEK for t in fills[d]]
    itc_buys = [t for t in trades if t["tradingsymbol"] == "ITC" and t["transaction_type"] == "BUY"]
    sell = next(t for t in trades if t["transaction_type"] == "SELL")
    # FIFO: the 11 sold are Monday's 10, then 1 of Tuesday's 2.
    realised = round((sell["average_price"] - itc_buys[0]["average_price"]) * 10
                     + (sell["average_price"] - itc_buys[1]["average_price"]) * 1, 2)
    week = {"account_id": account.id, "from_date": MONDAY.isoformat(), "to_date": FRIDAY.isoformat()}

    # REST: both tools, from Kite Desk's records.
    history = ok(execute(api_client, "get_trade_history", **week))
    assert sorted(t["trade_id"] for t in history["trades"]) == sorted(str(t["trade_id"]) for t in trades)
    assert [d["date"] for d in history["days"]] == [d.isoformat() for d in WEEK[:3]]
    assert [d["realised_pnl"] for d in history["days"]] == [0.0, 0.0, pytest.approx(realised, abs=0.01)]
    assert all(d["complete"] for d in history["days"])
    assert history["snapshot_days"] == [d.isoformat() for d in WEEK] and "note" not in history
    portfolio = ok(execute(api_client, "get_portfolio_history", **week))
    assert [d["date"] for d in portfolio["days"]] == [d.isoformat() for d in WEEK]
    assert [d["value"] for d in portfolio["days"]] == [pytest.approx(values[d], abs=0.05) for d in WEEK]
    infy = [h for h in portfolio["days"][1]["holdings"] if h["tradingsymbol"] == "INFY"]
    assert infy and infy[0]["quantity"] >= 4

    # The page: trades by day, realised P&L per day, the value series the chart draws.
    page = api_client.get("/history/", {"account": account.id, "from": MONDAY.isoformat(), "to": FRIDAY.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    for trade in trades:
        assert f'data-trade-id="{trade["trade_id"]}"' in html
    assert [d["date"] for d in page.context["days"]] == [d.isoformat() for d in reversed(WEEK[:3])]
    chart = page_chart(html)
    assert chart["labels"] == [d.isoformat() for d in WEEK]
    assert chart["value"] == [pytest.approx(values[d], abs=0.05) for d in WEEK]
    assert "vendor/chartjs/chart.umd.min.js" in html and "history.js" in html

    # CSV: the trades of a range of days, and only those.
    exported = api_client.get("/history/trades.csv", {"account": account.id, "from": WEEK[0].isoformat(),
                                                      "to": WEEK[1].isoformat()})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert sorted(r["trade_id"] for r in rows) == sorted(str(t["trade_id"]) for d in WEEK[:2] for t in fills[d])
    first = next(r for r in rows if r["trade_id"] == str(fills[WEEK[0]][0]["trade_id"]))
    assert (first["date"], first["tradingsymbol"], first["transaction_type"], float(first["quantity"])) == (
        WEEK[0].isoformat(), "ITC", "BUY", 10.0)
    assert float(first["price"]) == pytest.approx(fills[WEEK[0]][0]["average_price"])

    # Friday, no new login: Kite refuses the expired session. One line naming the account, exit status 1,
    # nothing stored for that day.
    sandbox.set_clock(at(FRIDAY, 15, 45))
    env = server_env(user="alice")
    run = subprocess.run([sys.executable, "manage.py", "snapshot", "--date", FRIDAY.isoformat()], cwd=PROJECT_ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{account.name} (id {account.pk}): not stored:" in run.stderr and "expired" in run.stderr
    assert "Traceback" not in run.stderr
    assert not PortfolioSnapshot.objects.filter(date=FRIDAY).exists()

    # MCP: the same answers, with no Kite session needed (history is Kite Desk's own).
    with mcp(env) as session:
        over_mcp = session.ok("get_trade_history", week)
        values_mcp = session.ok("get_portfolio_history", week)
    assert over_mcp["trades"] == history["trades"] and over_mcp["days"] == history["days"]
    assert [d["value"] for d in values_mcp["days"]] == [d["value"] for d in portfolio["days"]]


def test_with_nothing_recorded_the_page_and_tools_say_so_and_how_to_get_it(api_client, user):
    account = AccountFactory(user=user, name="Fresh")
    page = api_client.get("/history/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "No history for Fresh yet" in html and "manage.py snapshot" in html
    assert "history-chart-data" not in html and "₹0" not in html
    answer = ok(execute(api_client, "get_portfolio_history", account_id=account.id, from_date="2026-11-01",
                        to_date="2026-11-30"))
    assert answer["days"] == [] and "manage.py snapshot" in answer["note"]
    assert "manage.py snapshot" in ok(execute(api_client, "get_trade_history", account_id=account.id,
                                              from_date="2026-11-01", to_date="2026-11-30"))["note"]


@pytest.mark.parametrize(("args", "field", "words"), [
    ({"from_date": "2026-11-30", "to_date": "2026-11-01"}, "args", "is after"),
    ({"from_date": "2026-13-01", "to_date": "2026-11-01"}, "args", "from_date must be a date"),
    ({"from_date": "2025-01-01", "to_date": "2026-11-01"}, "args", "at most 366"),
    ({"from_date": "2026-11-01"}, "to_date", "required"),
    ({"from_date": 20261101, "to_date": "2026-11-02"}, "from_date", "string"),
])
def test_history_tools_refuse_bad_ranges_by_name(api_client, user, args, field, words):
    account = AccountFactory(user=user)
    for tool in ("get_trade_history", "get_portfolio_history"):
        error = error_of(execute(api_client, tool, account_id=account.id, **args), 400)
        assert error["type"] == "invalid" and field in error["fields"], error
        assert words in json.dumps(error).lower().replace("field required", "required"), error


def test_another_users_history_answers_like_a_missing_account(api_client, other_user):
    theirs = AccountFactory(user=other_user)
    PortfolioSnapshot.objects.create(account=theirs, date=date(2026, 11, 2), value=1, invested=1, pnl=0,
                                     taken_at=datetime(2026, 11, 2, 16, tzinfo=IST))
    error = error_of(execute(api_client, "get_portfolio_history", account_id=theirs.id, from_date="2026-11-01",
                             to_date="2026-11-30"), 404)
    assert error["type"] == "not_found"
    assert api_client.get("/history/", {"account": theirs.id}).status_code == 404
    assert api_client.get("/history/trades.csv", {"account": theirs.id}).status_code == 404


def test_the_csv_export_refuses_a_bad_range_and_defuses_formulas(api_client, user):
    account = AccountFactory(user=user)
    TradeRecord.objects.create(account=account, trade_id="1", order_id="9", exchange="NSE", tradingsymbol="=HYPERLINK",
                               product="CNC", transaction_type="BUY", quantity=1, price=10,
                               fill_timestamp=datetime(2026, 11, 2, 10, tzinfo=IST), trading_day=date(2026, 11, 2))
    bad = api_client.get("/history/trades.csv", {"account": account.id, "from": "2026-11-30", "to": "2026-11-01"})
    assert bad.status_code == 400 and b"is after" in bad.content
    good = api_client.get("/history/trades.csv", {"account": account.id, "from": "2026-11-01", "to": "2026-11-30"})
    [row] = list(csv.DictReader(io.StringIO(good.content.decode())))
    assert row["tradingsymbol"] == "'=HYPERLINK"


def test_snapshot_refuses_a_future_date_and_an_unknown_account(db):
    with pytest.raises(CommandError, match="in the future"):
        call_command("snapshot", date=(date.today() + timedelta(days=3)).isoformat())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("snapshot", date="30/11/2026")
    with pytest.raises(CommandError, match="No account with id 999"):
        call_command("snapshot", account=999)


# --- The pure part ----------------------------------------------------------------------------------

D1, D2, D3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


def fill(side: str, quantity: int, price: str, day: date, product: str = "CNC", symbol: str = "ITC") -> Fill:
    return Fill(exchange="NSE", tradingsymbol=symbol, product=product, transaction_type=side,
                quantity=Decimal(quantity), price=Decimal(price), day=day)


def test_realised_pnl_is_fifo_per_instrument_on_the_day_of_the_closing_trade():
    days = realised_by_day([fill("BUY", 10, "100", D1), fill("BUY", 10, "110", D2),
                            fill("BUY", 5, "50", D2, symbol="X"), fill("SELL", 15, "120", D3),
                            fill("SELL", 5, "40", D3, symbol="X")])
    assert days[D1].realised == days[D2].realised == 0
    # 10 x (120 - 100) + 5 x (120 - 110) from ITC, 5 x (40 - 50) from X.
    assert days[D3].realised == Decimal("200") + Decimal("50") - Decimal("50")
    assert days[D3].trades == 2 and days[D3].sold == Decimal("2000") and days[D3].complete


def test_an_intraday_short_is_closed_by_the_later_purchase():
    days = realised_by_day([fill("SELL", 3, "105", D1, "MIS"), fill("BUY", 3, "100", D1, "MIS")])
    assert days[D1].realised == Decimal("15.00")


def test_a_cnc_sale_without_a_recorded_purchase_uses_kites_average_or_is_marked_incomplete():
    sale = [fill("SELL", 4, "120", D2)]
    unknown = realised_by_day(sale)
    assert unknown[D2].unmatched == {"NSE:ITC": Decimal(4)} and not unknown[D2].complete
    assert unknown[D2].realised == 0
    known = realised_by_day(sale, basis=lambda exchange, symbol, day: Decimal("95"))
    assert known[D2].realised == Decimal("100.00") and known[D2].complete


def test_day_ranges_are_checked_by_name():
    assert day_range("2026-11-01", "2026-11-01") == (date(2026, 11, 1), date(2026, 11, 1))
    for bad, words in [(("2026-11-02", "2026-11-01"), "after"), (("x", "2026-11-01"), "from_date"),
                       (("2026-01-01", "2027-01-02"), "at most 366")]:
        with pytest.raises(ValueError, match=words):
            day_range(*bad)


def test_the_same_order_state_has_one_fingerprint_whatever_the_source_wrote():
    from kite.history import order_fingerprint

    postback = {"order_id": "1", "status": "COMPLETE", "quantity": 1, "average_price": 470,
                "order_timestamp": "2026-11-25 09:24:25"}
    book = {"order_id": "1", "status": "COMPLETE", "quantity": 1.0, "average_price": 470.0,
            "order_timestamp": datetime(2026, 11, 25, 9, 24, 25), "tag": "ignored"}
    assert order_fingerprint(postback) == order_fingerprint(book)
    assert order_fingerprint(postback) != order_fingerprint({**postback, "status": "UPDATE"})


def test_the_page_says_when_it_cannot_read_the_range_and_shows_the_last_30_days(api_client, user):
    AccountFactory(user=user)
    page = api_client.get("/history/", {"from": "2026-11-30", "to": "2026-11-01"})
    assert page.status_code == 200
    assert "Showing the last 30 days: from_date (2026-11-30) is after to_date (2026-11-01)." in page.content.decode()
    assert (page.context["to_date"] - page.context["from_date"]).days == 29
