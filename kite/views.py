"""Pages of the Kite layer: where Kite sends the browser back after login, connect and disconnect,
the live portfolio and the orders page. Every read goes through the tool pipeline (path "web")."""
from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts.models import Account
from accounts.views import account_or_404
from kite import live, selectors
from kite.errors import InvalidInput, LoginFailed, LoginStateInvalid, NotFound, ServiceError
from kite.history import day_range
from kite.models import Approval
from kite.services import approvals, history, login, sessions
from kite.services.execution import tool_execute
from kite.services.previews import write_preview


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Complete the session for the account named by the signed state, then go to the accounts page.

    Only in a browser signed in as the account's owner: any other browser is sent to sign in first (and
    comes back here), so a leaked login link cannot bind a stranger's Kite user to the account. The state
    is used up only once the session is made: a refused callback can be completed by the owner later.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    state = request.GET.get("state", "")
    status = request.GET.get("status", "")
    request_token = request.GET.get("request_token", "")
    try:
        if status != "success" or not request_token:
            raise LoginFailed(f"Kite did not complete the login (status {status[:20]!r}).")
        if not state:
            raise LoginStateInvalid("The callback has no login state: start the login from Kite Desk.")
        account, nonce = login.login_state_check(state=state, user=request.user)
        account = sessions.session_create(account=account, request_token=request_token[:128])
        # Used up now. (Two callbacks at the same instant would both be the owner's, with Kite's single-use
        # request tokens: nothing to undo.)
        login.login_state_consume(account=account, nonce=nonce)
    except ServiceError as error:
        messages.error(request, f"Login failed: {error.message}")
        return redirect("settings-accounts")
    until = timezone.localtime(account.token_expires_at)
    messages.success(request, f"Connected {account.name} (Kite user {account.kite_user_id}) until "
                              f"{until:%d %b %H:%M} IST.")
    return redirect("settings-accounts")


# --- Pages: connect and disconnect, portfolio, orders ------------------------------------------------

REFRESH_SECONDS = 5


@login_required
@require_POST
def account_connect(request: HttpRequest, account_id: int) -> HttpResponse:
    """Off to Kite's (or the sandbox's) login page; Kite sends the browser back to `callback`."""
    account = account_or_404(request, account_id)
    try:
        return redirect(login.login_url(account=account))
    except ServiceError as error:
        messages.error(request, f"Cannot connect {account.name}: {error.message}")
        return redirect("settings-accounts")


@login_required
@require_POST
def account_disconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    confirmed = sessions.session_delete(account=account)
    note = "" if confirmed else " (Kite did not confirm; the session is forgotten here anyway)"
    messages.success(request, f"Disconnected {account.name}{note}.")
    return redirect("settings-accounts")


def _selection(request: HttpRequest) -> tuple[str, list[Account], list[Account]]:
    """The `account` query parameter: "all" (the default) or one of the user's account ids."""
    accounts = list(account_selectors.account_list(user=request.user))
    chosen = request.GET.get("account", "all")
    if chosen == "all":
        return "all", accounts, accounts
    account = account_or_404(request, chosen)
    return str(account.pk), [account], accounts


@login_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    chosen, selected, accounts = _selection(request)
    context = {"accounts": accounts, "chosen": chosen, "refresh_seconds": REFRESH_SECONDS}
    if selected:
        context.update(selectors.portfolio_summary(user=request.user, accounts=selected))
    return render(request, "kite/portfolio.html", context)


@login_required
@require_GET
def portfolio_data(request: HttpRequest) -> HttpResponse:
    """The live part of the portfolio page, as an HTML fragment the page fetches every few seconds."""
    _, selected, _ = _selection(request)
    response = render(request, "kite/_portfolio_data.html",
                      selectors.portfolio_summary(user=request.user, accounts=selected))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def gtt_delete(request: HttpRequest, account_id: int, trigger_id: int) -> HttpResponse:
    """The owner's Delete on a GTT: the delete_gtt tool, on the web path (gated and audited like any write)."""
    account = account_or_404(request, account_id)
    try:
        tool_execute(user=request.user, tool_name="delete_gtt", path="web",
                     arguments={"account_id": account.pk, "trigger_id": trigger_id})
    except ServiceError as error:
        messages.error(request, f"GTT {trigger_id} of {account.name} was not deleted: {error.message}")
    else:
        messages.success(request, f"Deleted GTT {trigger_id} of {account.name}.")
    return redirect(f"{reverse('portfolio')}?account={account.pk}")


_AUDIT_LIMIT = 100


@login_required
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    accounts = list(account_selectors.account_list(user=request.user))
    account = account_or_404(request, request.GET["account"]) if request.GET.get("account") else (
        accounts[0] if accounts else None)
    reads = selectors.account_reads(user=request.user, account=account, tool_names=(
        "get_orders", "get_trades", "get_gtts", "get_mf_orders", "get_mf_sips")) if account else None
    data = reads.data if reads else {}
    audit = selectors.order_audit_list(user=request.user, limit=_AUDIT_LIMIT)
    waiting = approvals.approval_list(user=request.user).filter(status=Approval.Status.PENDING).select_related(
        "account")
    return render(request, "kite/orders.html", {
        "accounts": accounts, "account": account, "problem_reads": [reads] if reads else [],
        "orders": list(reversed(data.get("get_orders") or [])), "trades": list(reversed(data.get("get_trades") or [])),
        "gtts": [selectors.gtt_row(account, g) for g in data.get("get_gtts") or []] if account else [],
        "mf_orders": data.get("get_mf_orders") or [], "sips": data.get("get_mf_sips") or [],
        # What could not be read is said so, never shown as "none".
        "unread": {name for name in ("get_orders", "get_trades", "get_gtts", "get_mf_orders", "get_mf_sips")
                   if reads is not None and name not in data},
        "audit": audit, "audit_limit": _AUDIT_LIMIT, "waiting": list(waiting),
    })


def _approval_or_404(request: HttpRequest, approval_id: int) -> Approval:
    try:
        return approvals.approval_get(user=request.user, approval_id=approval_id)
    except NotFound:
        raise Http404("No such approval.") from None


@login_required
def approval(request: HttpRequest, approval_id: int) -> HttpResponse:
    """An order waiting for the owner's yes: the exact order, its value, margin and charges, Approve / Decline.

    Only this page decides, and only on a POST from the owner's signed-in session (CSRF-checked by Django's
    middleware); an API token never reaches it (`login_required` knows only the session)."""
    item = _approval_or_404(request, approval_id)
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("approve", "decline"):
            messages.error(request, "Choose Approve or Decline.")
            return redirect("approval", approval_id=item.pk)
        try:
            item = approvals.approval_decide(approval=item, user=request.user, approve=decision == "approve")
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("approval", approval_id=item.pk)
        if item.status == Approval.Status.APPROVED:
            messages.success(request, f"Approved and sent to Kite: order {item.order_id}.")
        elif item.status == Approval.Status.DECLINED:
            messages.success(request, "Declined: nothing was sent.")
        else:
            messages.error(request, f"Approved, but not sent: {item.error}")
        return redirect("approval", approval_id=item.pk)
    if request.method != "GET":
        return HttpResponse(status=405)
    preview, preview_error = None, ""
    if item.status == Approval.Status.PENDING:
        preview, preview_error = write_preview(user=request.user, tool_name=item.tool, arguments=item.arguments,
                                               path="web")
    return render(request, "kite/approval.html", {"approval": item, "preview": preview,
                                                  "preview_error": preview_error})


# --- Postbacks and history ----------------------------------------------------------------------------

def _postback_error(error: ServiceError) -> JsonResponse:
    return JsonResponse({"error": error.body()}, status=error.status)


@csrf_exempt  # Kite's server posts here: no session, no CSRF token; the checksum is what authenticates it
@require_POST
def postback(request: HttpRequest) -> HttpResponse:
    """Kite's postback target (register APP_BASE_URL/kite/postback as the app's postback URL): a verified order
    update is stored once and pushed to the owner's pages; anything else is refused and changes nothing."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > history.POSTBACK_MAX_BYTES:
        return _postback_error(InvalidInput(f"The postback body is over {history.POSTBACK_MAX_BYTES} bytes."))
    body = request.read(history.POSTBACK_MAX_BYTES + 1)
    if len(body) > history.POSTBACK_MAX_BYTES:
        return _postback_error(InvalidInput(f"The postback body is over {history.POSTBACK_MAX_BYTES} bytes."))
    try:
        recorded = history.postback_receive(body=body)
    except ServiceError as error:
        return _postback_error(error)
    return JsonResponse({"status": "ok", "stored": any(created for _, created in recorded)})


def _history_choice(request: HttpRequest) -> tuple[list[Account], Account | None, date, date, str]:
    """The account (`account`, default the first) and days (`from`, `to`: default the last 30 days) asked for;
    an unreadable range falls back to the default and says why."""
    accounts = list(account_selectors.account_list(user=request.user))
    account = account_or_404(request, request.GET["account"]) if request.GET.get("account") else (
        accounts[0] if accounts else None)
    today = timezone.localdate()
    start, end, problem = today - timedelta(days=HISTORY_DAYS - 1), today, ""
    if request.GET.get("from") or request.GET.get("to"):
        try:
            start, end = day_range(request.GET.get("from") or start.isoformat(),
                                   request.GET.get("to") or end.isoformat())
        except ValueError as error:
            problem = f"Showing the last {HISTORY_DAYS} days: {error}."
    return accounts, account, start, end, problem


HISTORY_DAYS = 30


@login_required
@require_GET
def history_page(request: HttpRequest) -> HttpResponse:
    accounts, account, start, end, problem = _history_choice(request)
    context: dict[str, Any] = {"accounts": accounts, "account": account, "from_date": start, "to_date": end,
                               "problem": problem}
    if account is not None:
        trades = selectors.trade_history(account=account, from_date=start, to_date=end)
        portfolio = selectors.portfolio_history(account=account, from_date=start, to_date=end, holdings=False)
        by_day: dict[str, list[dict[str, Any]]] = {}
        for trade in trades["trades"]:
            by_day.setdefault(trade["date"], []).append(trade)
        context.update({
            "note": trades.get("note"), "days": list(reversed(trades["days"])),
            "trades_by_day": sorted(by_day.items(), reverse=True), "trade_count": len(trades["trades"]),
            "snapshot_days": trades["snapshot_days"], "portfolio_days": portfolio["days"],
            "chart": {"labels": [d["date"] for d in portfolio["days"]],
                      "value": [d["value"] for d in portfolio["days"]],
                      "invested": [d["invested"] for d in portfolio["days"]]},
        })
    return render(request, "kite/history.html", context)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet will not run as a formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


@login_required
@require_GET
def history_trades_csv(request: HttpRequest) -> HttpResponse:
    """The trades of one account over a range of days, as CSV (`account`, `from`, `to` as on the page)."""
    accounts, account, start, end, problem = _history_choice(request)
    if problem:
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
    if account is None:
        raise Http404("No account.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="trades-{account.pk}-{start.isoformat()}-'
                                       f'{end.isoformat()}.csv"')
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    columns = ("date", "fill_timestamp", "exchange", "tradingsymbol", "product", "transaction_type", "quantity",
               "price", "value", "order_id", "trade_id")
    writer.writerow(columns)
    for trade in selectors.trade_records(account=account, from_date=start, to_date=end):
        row = selectors.trade_json(trade)
        writer.writerow([_cell(row[c]) for c in columns])
    return response


# --- Live: the event stream of the pages (Server-Sent Events) and the ticker's way in without Redis ----------

STREAM_KEEPALIVE_SECONDS = 15  # a comment line this often: proxies and browsers keep an idle stream open
_STREAM_TYPES = {"order", "tick", "ticker", "overflow"}


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def live_stream(request: HttpRequest) -> HttpResponse:
    """`GET /kite/stream`: the signed-in user's live events (ticks of their accounts' instruments, order
    updates, the ticker's state) as `text/event-stream`, until the browser goes away. Only under ASGI (make
    run, runserver, uvicorn): a WSGI worker would be held for ever, so there it answers 503 and the pages poll."""
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Sign in to Kite Desk to follow live events.", status=403,
                            content_type="text/plain; charset=utf-8")
    if not isinstance(request, ASGIRequest):
        return HttpResponse("The live stream needs the ASGI server (make run, or uvicorn config.asgi).", status=503,
                            content_type="text/plain; charset=utf-8")
    account_ids = {pk async for pk in Account.objects.filter(user=user).values_list("pk", flat=True)}

    async def events() -> AsyncIterator[str]:
        async with live.listen(user.pk) as listener:
            yield f"retry: 3000\n\n{_sse('hello', {'accounts': sorted(account_ids)})}"
            while True:
                event = await listener.get(STREAM_KEEPALIVE_SECONDS)
                if event is None:
                    yield ": keep-alive\n\n"
                elif event.get("type") == live.UNAVAILABLE:
                    return  # the source stopped: the browser reconnects (and polls meanwhile)
                elif event.get("type") in _STREAM_TYPES and event.get("account_id") in account_ids | {None}:
                    yield _sse(event["type"], event)  # (only the user's events reach here; and only theirs go out)

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: do not hold the events back
    return response


@csrf_exempt  # runticker posts here: no session; the HMAC of SECRET_KEY is what authenticates it
@require_POST
def live_ingest(request: HttpRequest) -> HttpResponse:
    """`POST /kite/live/ingest`: a signed batch of events from `runticker` (without REDIS_URL), handed on to
    this process's streams. Unsigned, stale or malformed: 403 and nothing delivered."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = b"" if length > live.INGEST_MAX_BYTES else request.read(live.INGEST_MAX_BYTES + 1)
    try:
        if length > live.INGEST_MAX_BYTES or len(body) > live.INGEST_MAX_BYTES:
            raise InvalidInput(f"The batch is over {live.INGEST_MAX_BYTES} bytes.")
        items = live.ingest_check(body=body, timestamp=request.headers.get("X-Live-Timestamp", ""),
                                  signature=request.headers.get("X-Live-Signature", ""))
    except ServiceError as error:
        return JsonResponse({"error": error.body()}, status=error.status)
    return JsonResponse({"status": "ok", "delivered": live.publish_many(items)})
