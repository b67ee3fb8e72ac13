"""Pages of the Kite layer: where Kite sends the browser back after login, connect and disconnect,
the live portfolio and the orders page. Every read goes through the tool pipeline (path "web")."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts.models import Account
from accounts.views import account_or_404
from kite import selectors
from kite.errors import LoginFailed, LoginStateInvalid, NotFound, ServiceError
from kite.models import Approval
from kite.services import approvals, login, sessions
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
