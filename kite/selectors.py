"""Reads the pages show, built on the tool registry (path "web"): the portfolio of one or several
accounts with its totals, and the order audit log."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account, Status
from kite.errors import ServiceError, SessionExpired
from kite.history import DayPnl, Fill, realised_by_day
from kite.ist import iso_ist
from kite.models import HoldingSnapshot, OrderAudit, PortfolioSnapshot, TradeRecord
from kite.services.execution import tool_execute


@dataclass
class AccountReads:
    """What the tools answered for one account, or why they did not."""

    account: Account
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    expired: bool = False

    @property
    def needs_credentials(self) -> bool:
        return self.account.status == Status.NEEDS_CREDENTIALS


def account_reads(*, user: AbstractBaseUser, account: Account, tool_names: tuple[str, ...]) -> AccountReads:
    reads = AccountReads(account=account)
    for name in tool_names:
        try:
            reads.data[name] = tool_execute(user=user, tool_name=name, arguments={"account_id": account.id},
                                            path="web")
        except ServiceError as error:
            if isinstance(error, SessionExpired):
                reads.expired = True
                # Kite may just have refused the token (the service marked it expired): show the fresh status.
                account.refresh_from_db(fields=["access_token", "token_expires_at"])
                break
            if error.message not in reads.errors:
                reads.errors.append(error.message)
    return reads


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _percent(part: float, whole: float) -> float | None:
    return part / whole * 100 if whole else None


def _holding_row(account: Account, holding: dict[str, Any]) -> dict[str, Any]:
    quantity = _number(holding.get("quantity"))  # Kite's net quantity: T+1 and delivered together
    average, last = _number(holding.get("average_price")), _number(holding.get("last_price"))
    invested, value = average * quantity, last * quantity
    day_change = _number(holding.get("day_change")) * quantity
    return {
        "account": account, "exchange": holding.get("exchange", ""), "symbol": holding.get("tradingsymbol", ""),
        "quantity": quantity, "average_price": average, "last_price": last, "invested": invested, "value": value,
        "pnl": value - invested, "pnl_percent": _percent(value - invested, invested),
        "day_change": day_change, "day_change_percent": _number(holding.get("day_change_percentage")),
    }


def gtt_row(account: Account, gtt: dict[str, Any]) -> dict[str, Any]:
    condition = gtt.get("condition") or {}
    legs = []
    for trigger, order in zip(condition.get("trigger_values") or [], gtt.get("orders") or [], strict=False):
        result = (order.get("result") or {}).get("order_result") or {}
        legs.append({"trigger": _number(trigger), "side": order.get("transaction_type", ""),
                     "quantity": order.get("quantity"), "price": _number(order.get("price")),
                     "order_id": result.get("order_id")})
    return {"account": account, "id": gtt.get("id"), "type": gtt.get("type", ""), "status": gtt.get("status", ""),
            "exchange": condition.get("exchange", ""), "symbol": condition.get("tradingsymbol", ""),
            "last_price": _number(condition.get("last_price")), "legs": legs}


def _mf_row(account: Account, holding: dict[str, Any]) -> dict[str, Any]:
    quantity = _number(holding.get("quantity"))
    average, last = _number(holding.get("average_price")), _number(holding.get("last_price"))
    invested, value = average * quantity, last * quantity
    return {"account": account, "fund": holding.get("fund") or holding.get("tradingsymbol", ""),
            "symbol": holding.get("tradingsymbol", ""), "folio": holding.get("folio", ""), "quantity": quantity,
            "average_price": average, "last_price": last, "invested": invested, "value": value,
            "pnl": value - invested, "pnl_percent": _percent(value - invested, invested)}


GTT_SHOWN = ("active", "triggered")  # the page shows what can still fire, and what just did


def portfolio_summary(*, user: AbstractBaseUser, accounts: list[Account]) -> dict[str, Any]:
    """Holdings, positions, margins, GTTs, mutual funds and totals of the accounts, read live from Kite."""
    reads = [account_reads(user=user, account=a, tool_names=("get_holdings", "get_positions", "get_margins",
                                                              "get_gtts", "get_mf_holdings"))
             for a in accounts]
    gtts = [gtt_row(r.account, g) for r in reads for g in r.data.get("get_gtts") or []
            if isinstance(g, dict) and g.get("status") in GTT_SHOWN]
    funds = [_mf_row(r.account, h) for r in reads for h in r.data.get("get_mf_holdings") or []]
    holdings = [_holding_row(r.account, h) for r in reads for h in r.data.get("get_holdings") or []]
    for row in holdings:
        row["gtts"] = [g for g in gtts if (g["account"].pk, g["exchange"], g["symbol"]) ==
                       (row["account"].pk, row["exchange"], row["symbol"])]
    positions = [dict(p, account=r.account) for r in reads for p in (r.data.get("get_positions") or {}).get("net", [])]
    margins = [(r.account, r.data["get_margins"]) for r in reads if isinstance(r.data.get("get_margins"), dict)]
    # What could not be read is never shown as zero or empty.
    missing = {name: [r.account for r in reads if name not in r.data]
               for name in ("get_holdings", "get_positions", "get_margins", "get_gtts", "get_mf_holdings")}
    funds_invested = sum(f["invested"] for f in funds)
    funds_value = sum(f["value"] for f in funds)
    invested = sum(h["invested"] for h in holdings)
    value = sum(h["value"] for h in holdings)
    day = sum(h["day_change"] for h in holdings)
    available = [(a, _number((m.get("equity") or {}).get("net"))) for a, m in margins]
    # Totals of the accounts that were read, said to be partial when some were not; none when none was.
    complete = len(missing["get_holdings"]) < len(reads)
    return {
        "reads": reads, "holdings": holdings, "positions": positions, "margins": available,
        "show_account": len(accounts) > 1,
        "holdings_missing": missing["get_holdings"], "positions_missing": missing["get_positions"],
        "holdings_read": [r.account for r in reads if "get_holdings" in r.data],
        "margins_missing": missing["get_margins"], "gtts": gtts, "gtts_missing": missing["get_gtts"],
        "funds": funds, "funds_missing": missing["get_mf_holdings"],
        "funds_totals": None if len(missing["get_mf_holdings"]) == len(reads) else {
            "invested": funds_invested, "value": funds_value, "pnl": funds_value - funds_invested,
            "pnl_percent": _percent(funds_value - funds_invested, funds_invested)},
        "incomplete": any(missing.values()),
        "totals": {
            "invested": invested if complete else None, "value": value if complete else None,
            "pnl": value - invested if complete else None,
            "pnl_percent": _percent(value - invested, invested) if complete else None,
            "day": day if complete else None, "day_percent": _percent(day, value - day) if complete else None,
            "available": sum(amount for _, amount in available) if available and not missing["get_margins"]
            else None,
        },
        "fetched_at": timezone.now(),
    }


def order_audit_list(*, user: AbstractBaseUser, limit: int = 100) -> QuerySet[OrderAudit]:
    return OrderAudit.objects.filter(user=user)[:limit]


# --- History (kept here by postbacks, the ticker and `manage.py snapshot`; Kite keeps one day) -----------

NOTHING_RECORDED = ("Nothing is recorded for this account yet. Kite keeps orders and trades for the current day "
                    "only: run `python manage.py snapshot` after the close each trading day to keep them, with "
                    "the day's holdings.")


def _money(value: Any) -> float | None:
    return float(value) if value is not None else None


def _history_recorded(account: Account) -> bool:
    return TradeRecord.objects.filter(account=account).exists() or \
        PortfolioSnapshot.objects.filter(account=account).exists()


def trade_json(trade: TradeRecord) -> dict[str, Any]:
    return {"date": trade.trading_day.isoformat(), "fill_timestamp": iso_ist(trade.fill_timestamp),
            "trade_id": trade.trade_id, "order_id": trade.order_id, "exchange": trade.exchange,
            "tradingsymbol": trade.tradingsymbol, "product": trade.product,
            "transaction_type": trade.transaction_type, "quantity": float(trade.quantity),
            "price": float(trade.price), "value": round(float(trade.quantity * trade.price), 2)}


def trade_records(*, account: Account, from_date: date, to_date: date) -> QuerySet[TradeRecord]:
    return TradeRecord.objects.filter(account=account, trading_day__range=(from_date, to_date)).order_by(
        "fill_timestamp", "id")


def _cost_basis(account: Account) -> Any:
    """Kite's average price of a holding in the latest snapshot before a day (for CNC sales of shares bought
    before history was kept)."""
    def basis(exchange: str, tradingsymbol: str, day: date) -> Decimal | None:
        row = HoldingSnapshot.objects.filter(snapshot__account=account, snapshot__date__lt=day, exchange=exchange,
                                             tradingsymbol=tradingsymbol, quantity__gt=0).order_by(
            "-snapshot__date").first()
        return row.average_price if row is not None else None
    return basis


def realised_pnl(*, account: Account, to_date: date) -> dict[date, DayPnl]:
    """Realised P&L per day up to `to_date`, FIFO over every trade recorded before it (kite.history)."""
    fills = [Fill(exchange=t.exchange, tradingsymbol=t.tradingsymbol, product=t.product,
                  transaction_type=t.transaction_type, quantity=t.quantity, price=t.price, day=t.trading_day)
             for t in TradeRecord.objects.filter(account=account, trading_day__lte=to_date).order_by(
                 "fill_timestamp", "id")]
    return realised_by_day(fills, basis=_cost_basis(account))


def _day_json(pnl: DayPnl) -> dict[str, Any]:
    return {"date": pnl.day.isoformat(), "trades": pnl.trades, "bought": round(float(pnl.bought), 2),
            "sold": round(float(pnl.sold), 2), "realised_pnl": float(pnl.realised), "complete": pnl.complete,
            "unmatched": {k: float(v) for k, v in pnl.unmatched.items()}}


def trade_history(*, account: Account, from_date: date, to_date: date) -> dict[str, Any]:
    """The account's recorded trades between two days, and realised P&L per day with trades. `snapshot_days`
    are the days the day's trades were read from Kite: on those, no trade means none was made; on other days
    nothing is known."""
    trades = [trade_json(t) for t in trade_records(account=account, from_date=from_date, to_date=to_date)]
    days = [_day_json(p) for d, p in sorted(realised_pnl(account=account, to_date=to_date).items())
            if d >= from_date]
    answer: dict[str, Any] = {
        "account_id": account.pk, "from_date": from_date.isoformat(), "to_date": to_date.isoformat(),
        "trades": trades, "days": days,
        "snapshot_days": [d.isoformat() for d in PortfolioSnapshot.objects.filter(
            account=account, date__range=(from_date, to_date)).values_list("date", flat=True)],
        "pnl_method": "FIFO per instrument, before charges",
    }
    if not _history_recorded(account):
        answer["note"] = NOTHING_RECORDED
    return answer


def portfolio_history(*, account: Account, from_date: date, to_date: date, holdings: bool = True
                      ) -> dict[str, Any]:
    """The account's end-of-day holdings snapshots between two days: value, invested and unrealised P&L per
    day (and each holding). Days without a snapshot are absent: unknown, never zero."""
    snapshots = PortfolioSnapshot.objects.filter(account=account, date__range=(from_date, to_date)).order_by("date")
    if holdings:
        snapshots = snapshots.prefetch_related("holdings")
    days = []
    for s in snapshots:
        day: dict[str, Any] = {"date": s.date.isoformat(), "value": float(s.value), "invested": float(s.invested),
                               "pnl": float(s.pnl), "taken_at": iso_ist(s.taken_at)}
        if holdings:
            day["holdings"] = [{"exchange": h.exchange, "tradingsymbol": h.tradingsymbol,
                                "quantity": float(h.quantity), "average_price": float(h.average_price),
                                "close_price": float(h.close_price), "value": float(h.value), "pnl": float(h.pnl)}
                               for h in s.holdings.all()]
        days.append(day)
    answer: dict[str, Any] = {"account_id": account.pk, "from_date": from_date.isoformat(),
                              "to_date": to_date.isoformat(), "days": days}
    if not _history_recorded(account):
        answer["note"] = NOTHING_RECORDED
    return answer
