"""Pages of the Kite layer: where Kite sends the browser back after login, connect and disconnect,
the live portfolio and the orders page. Every read goes through kite.services.tool_execute(path="web")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors
from accounts.models import Account, Status
from kite import services
from kite.errors import ToolError
from kite.models import OrderAudit


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Complete the session for the account named by the signed state, then go to the accounts page.

    The state is unforgeable, short-lived and single-use, and it names the account's owner, so the
    browser need not be signed in here (a login started from MCP ends in any browser). A browser
    signed in as someone else is refused.
    """
    state = request.GET.get("state", "")
    status = request.GET.get("status", "")
    request_token = request.GET.get("request_token", "")
    try:
        if status != "success" or not request_token:
            raise ToolError(f"Kite did not complete the login (status {status[:20]!r}).", type="login_failed",
                            status_code=400)
        if not state:
            raise ToolError("The callback has no login state: start the login from Kite Desk.",
                            type="login_state_invalid", status_code=400)
        account = services.account_from_login_state(state=state, user=request.user)
        account = services.session_create(account=account, request_token=request_token[:128])
    except ToolError as error:
        if request.user.is_authenticated:
            messages.error(request, f"Login failed: {error.message}")
            return redirect("settings-accounts")
        return render(request, "kite/callback.html", {"ok": False, "message": error.message}, status=400)
    until = timezone.localtime(account.token_expires_at)
    text = f"Connected {account.name} (Kite user {account.kite_user_id}) until {until:%d %b %H:%M} IST."
    if request.user.is_authenticated:
        messages.success(request, text)
        return redirect("settings-accounts")
    return render(request, "kite/callback.html", {"ok": True, "message": text})


# --- Pages: connect and disconnect, portfolio, orders ------------------------------------------------

REFRESH_SECONDS = 5


def _account_or_404(request: HttpRequest, account_id: object) -> Account:
    try:
        return selectors.account_get(user=request.user, account_id=account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None


@login_required
@require_POST
def account_connect(request: HttpRequest, account_id: int) -> HttpResponse:
    """Off to Kite's (or the sandbox's) login page; Kite sends the browser back to `callback`."""
    account = _account_or_404(request, account_id)
    try:
        return redirect(services.login_url(account=account))
    except ToolError as error:
        messages.error(request, f"Cannot connect {account.name}: {error.message}")
        return redirect("settings-accounts")


@login_required
@require_POST
def account_disconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account_or_404(request, account_id)
    confirmed = services.session_delete(account=account)
    note = "" if confirmed else " (Kite did not confirm; the session is forgotten here anyway)"
    messages.success(request, f"Disconnected {account.name}{note}.")
    return redirect("settings-accounts")


@dataclass
class _AccountReads:
    """What the tools answered for one account, or why they did not."""

    account: Account
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    expired: bool = False

    @property
    def needs_credentials(self) -> bool:
        return self.account.status == Status.NEEDS_CREDENTIALS


def _read(request: HttpRequest, account: Account, tool_names: tuple[str, ...]) -> _AccountReads:
    reads = _AccountReads(account=account)
    for name in tool_names:
        try:
            reads.data[name] = services.tool_execute(user=request.user, tool_name=name,
                                                     arguments={"account_id": account.id}, path="web")
        except ToolError as error:
            if error.type == "session_expired":
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


def _portfolio(request: HttpRequest, accounts: list[Account]) -> dict[str, Any]:
    reads = [_read(request, a, ("get_holdings", "get_positions", "get_margins")) for a in accounts]
    holdings = [_holding_row(r.account, h) for r in reads for h in r.data.get("get_holdings") or []]
    positions = [dict(p, account=r.account) for r in reads for p in (r.data.get("get_positions") or {}).get("net", [])]
    margins = [(r.account, r.data["get_margins"]) for r in reads if isinstance(r.data.get("get_margins"), dict)]
    invested = sum(h["invested"] for h in holdings)
    value = sum(h["value"] for h in holdings)
    day = sum(h["day_change"] for h in holdings)
    available = [(a, _number((m.get("equity") or {}).get("net"))) for a, m in margins]
    return {
        "reads": reads, "holdings": holdings, "positions": positions, "margins": available,
        "show_account": len(accounts) > 1,
        "totals": {
            "invested": invested, "value": value, "pnl": value - invested,
            "pnl_percent": _percent(value - invested, invested), "day": day,
            "day_percent": _percent(day, value - day),
            "available": sum(amount for _, amount in available) if available else None,
        },
        "fetched_at": timezone.now(),
    }


def _selection(request: HttpRequest) -> tuple[str, list[Account], list[Account]]:
    """The `account` query parameter: "all" (the default) or one of the user's account ids."""
    accounts = list(selectors.account_list(user=request.user))
    chosen = request.GET.get("account", "all")
    if chosen == "all":
        return "all", accounts, accounts
    account = _account_or_404(request, chosen)
    return str(account.pk), [account], accounts


@login_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    chosen, selected, accounts = _selection(request)
    context = {"accounts": accounts, "chosen": chosen, "refresh_seconds": REFRESH_SECONDS}
    if selected:
        context.update(_portfolio(request, selected))
    return render(request, "kite/portfolio.html", context)


@login_required
@require_GET
def portfolio_data(request: HttpRequest) -> HttpResponse:
    """The live part of the portfolio page, as an HTML fragment the page fetches every few seconds."""
    _, selected, _ = _selection(request)
    response = render(request, "kite/_portfolio_data.html", _portfolio(request, selected))
    response["Cache-Control"] = "no-store"
    return response


_AUDIT_LIMIT = 100


def _order_summary(arguments: dict[str, Any]) -> str:
    """An audit entry's arguments as a trader reads them: "BUY 5 NSE:INFY LIMIT @ 1500 CNC"."""
    args = {k: v for k, v in arguments.items() if k != "account_id"} if isinstance(arguments, dict) else {}
    if "tradingsymbol" in args:
        words = [args.get("transaction_type"), args.get("quantity"),
                 f"{args.get('exchange', '')}:{args['tradingsymbol']}", args.get("order_type")]
        if args.get("price") is not None:
            words.append(f"@ {args['price']}")
        if args.get("trigger_price") is not None:
            words.append(f"trigger {args['trigger_price']}")
        words.append(args.get("product"))
        return " ".join(str(w) for w in words if w not in (None, ""))
    return ", ".join(f"{k} {v}" for k, v in args.items() if k != "variety" or v != "regular")


@login_required
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    accounts = list(selectors.account_list(user=request.user))
    account = _account_or_404(request, request.GET["account"]) if request.GET.get("account") else (
        accounts[0] if accounts else None)
    reads = _read(request, account, ("get_orders", "get_trades")) if account else None
    audit = [(entry, _order_summary(entry.arguments))
             for entry in OrderAudit.objects.filter(user=request.user)[:_AUDIT_LIMIT]]
    return render(request, "kite/orders.html", {
        "accounts": accounts, "account": account, "problem_reads": [reads] if reads else [],
        "orders": list(reversed(reads.data.get("get_orders") or [])) if reads else [],
        "trades": list(reversed(reads.data.get("get_trades") or [])) if reads else [],
        "audit": audit, "audit_limit": _AUDIT_LIMIT,
    })
