"""The Kite service: sessions (login, callback, logout) and tool execution for every path.

Data flows one way: a view, an API call or an MCP tool call -> here -> kite.client -> Kite.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as accounts_services
from accounts.models import Account, Environment
from kite import client as kite_client
from kite import instruments
from kite.errors import KiteError, ToolError, session_expired, tool_error_from_kite
from kite.models import OrderAudit
from kite.ratelimit import RateLimitExceeded
from kite.tools import Tool, ToolArgs, get_tool, to_json

log = logging.getLogger(__name__)
IST = ZoneInfo("Asia/Kolkata")
LOGIN_STATE_SALT = "kite.login.state"
LOGIN_STATE_MAX_AGE = 15 * 60  # seconds between asking for the login URL and Kite's redirect
# Columns needed to serve a call from a cached client: nothing encrypted, nothing decrypted.
_LIGHT_FIELDS = ("id", "user_id", "name", "environment", "session_version", "token_expires_at", "kite_user_id",
                 "trading_enabled", "confirm_orders")


def token_expiry(login_time: datetime) -> datetime:
    """Kite tokens die at the first 06:00 Asia/Kolkata after login (the morning after the login day)."""
    local = login_time.astimezone(IST)
    six = datetime.combine(local.date(), clock_time(6, 0), tzinfo=IST)
    return six if local < six else six + timedelta(days=1)


# --- Accounts as the Kite layer sees them ----------------------------------------------------------

def account_get_for_user(*, user: AbstractBaseUser, account_id: Any, only: tuple[str, ...] = ()) -> Account:
    """accounts.selectors.account_get, with a missing (or someone else's) account as a 404 ToolError."""
    try:
        return account_selectors.account_get(user=user, account_id=account_id, only=only)
    except Account.DoesNotExist:
        raise ToolError("No such account.", type="not_found", status_code=404) from None


def account_statuses(*, user: AbstractBaseUser) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {"id": a.id, "name": a.name, "environment": a.environment, "status": a.status_at(now),
         "kite_user_id": a.kite_user_id, "token_expires_at": a.token_expires_at}
        for a in Account.objects.filter(user=user).order_by("name", "id")
    ]


def _mark_expired(account: Account) -> None:
    """Kite refused the token: the account reads `expired` everywhere, and every process drops its client."""
    Account.objects.filter(pk=account.pk).update(
        token_expires_at=timezone.now(), session_version=F("session_version") + 1, updated_at=timezone.now())
    kite_client.forget_client(account.pk)


# --- Sandbox provisioning ---------------------------------------------------------------------------

def sandbox_provision(*, account: Account) -> Account:
    """Ask the sandbox for a paper app for this account (its own key and secret)."""
    url = f"{settings.KITE_SANDBOX_URL}/sandbox/apps"
    try:
        answer = requests.post(url, json={"redirect_url": f"{settings.APP_BASE_URL}/kite/callback",
                                          "user_name": account.name[:40]}, timeout=10)
        data = answer.json().get("data") if answer.headers.get("content-type", "").startswith("application/json") \
            else None
    except (requests.RequestException, ValueError):
        raise ToolError(f"The sandbox at {settings.KITE_SANDBOX_URL} is not answering; start it with "
                        "`python manage.py runsandbox` (make run does).", type="sandbox_unreachable",
                        status_code=502) from None
    if answer.status_code >= 400 or not isinstance(data, dict) or "api_key" not in data:
        raise ToolError(f"The sandbox refused to create an app (HTTP {answer.status_code}).",
                        type="sandbox_error", status_code=502)
    account.api_key, account.api_secret = data["api_key"], data["api_secret"]
    account.access_token, account.token_expires_at = None, None
    account.session_version += 1
    account.save()
    return account


def account_add(*, user: AbstractBaseUser, name: str, environment: str = Environment.LIVE,
                api_key: str | None = None, api_secret: str | None = None) -> tuple[Account, str | None]:
    """Create an account; a sandbox account gets its key and secret from the sandbox.

    Returns the account and, when the sandbox could not provision it, why (it is provisioned again at
    its first login). accounts.services.DuplicateAccountName propagates.
    """
    account = accounts_services.account_create(user=user, name=name, environment=environment, api_key=api_key,
                                               api_secret=api_secret)
    if account.environment == Environment.SANDBOX and not account.has_credentials:
        try:
            sandbox_provision(account=account)
        except ToolError as error:
            return account, error.message
    return account, None


def account_remove(*, account: Account) -> None:
    """Delete an account, ending its Kite session first (best effort: else it lives until 06:00 IST)."""
    if account.access_token:
        session_delete(account=account)
    accounts_services.account_delete(account=account)


# --- Login ------------------------------------------------------------------------------------------

def login_url(*, account: Account) -> str:
    """The Kite (or sandbox) login URL, carrying a signed, expiring, single-use state."""
    if account.environment == Environment.SANDBOX and not account.has_credentials:
        sandbox_provision(account=account)
    if not account.has_credentials:
        raise ToolError(f"Account {account.name!r} has no API key and secret yet; add them first.",
                        type="needs_credentials", status_code=400)
    nonce = secrets.token_urlsafe(16)
    Account.objects.filter(pk=account.pk).update(login_nonce_hash=_hash(nonce))
    state = signing.dumps({"a": account.pk, "u": account.user_id, "n": nonce}, salt=LOGIN_STATE_SALT, compress=True)
    query = urlencode({"v": "3", "api_key": account.api_key, "redirect_params": urlencode({"state": state})})
    return f"{kite_client.login_base_url(account.environment)}?{query}"


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def account_from_login_state(*, state: str, user: AbstractBaseUser | None) -> Account:
    """The account a callback is for. Refuses forged, expired, replayed or someone else's states."""
    try:
        payload = signing.loads(state, salt=LOGIN_STATE_SALT, max_age=LOGIN_STATE_MAX_AGE)
        account_id, owner_id, nonce = int(payload["a"]), int(payload["u"]), str(payload["n"])
    except signing.SignatureExpired:
        raise ToolError("This login link has expired; start the login again.", type="login_state_expired",
                        status_code=400) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ToolError("This login callback is not one we issued.", type="login_state_invalid",
                        status_code=400) from None
    if user is not None and user.is_authenticated and user.pk != owner_id:
        raise ToolError("This login was started by another user.", type="login_state_invalid", status_code=400)
    with transaction.atomic():
        # Consume the nonce: a state works once, and only the latest one issued for the account.
        used = Account.objects.filter(pk=account_id, user_id=owner_id, login_nonce_hash=_hash(nonce)).update(
            login_nonce_hash="")
    if not used:
        raise ToolError("This login callback was already used or replaced by a newer login; start again.",
                        type="login_state_invalid", status_code=400)
    return Account.objects.get(pk=account_id)


def session_create(*, account: Account, request_token: str) -> Account:
    """Exchange a request_token for an access token; keep it encrypted and cache the client."""
    if not account.has_credentials:
        raise ToolError(f"Account {account.name!r} has no API key and secret.", type="needs_credentials",
                        status_code=400)
    kite = kite_client.new_client(api_key=account.api_key or "", access_token=None, environment=account.environment)
    try:
        session = kite_client.call(kite, "other", "generate_session", request_token, api_secret=account.api_secret)
        kite_user_id = str(session.get("user_id") or "")[:32]
        if account.kite_user_id and kite_user_id != account.kite_user_id:
            # Someone else logged in through this account's app (its login URL leaked, or the wrong Kite
            # login was used): their session must not stand in for the account's owner.
            kite.set_access_token(session["access_token"])
            try:
                kite_client.call(kite, "other", "invalidate_access_token")
            except KiteError:
                log.warning("Could not invalidate a mismatched Kite session for account %s", account.pk)
            raise ToolError(f"Account {account.name!r} belongs to Kite user {account.kite_user_id}, but Kite user "
                            f"{kite_user_id} logged in. Nothing was saved; log in as {account.kite_user_id}.",
                            type="kite_user_mismatch", status_code=409)
    except KiteError as exc:
        if exc.error_type == "TokenException":
            raise ToolError(f"Kite refused the login: {exc.message}", type="TokenException",
                            status_code=401) from None
        raise tool_error_from_kite(exc, account_name=account.name) from None
    finally:
        kite.reqsession.close()
    now = timezone.now()
    account.access_token = session["access_token"]
    account.kite_user_id = kite_user_id
    account.token_expires_at = token_expiry(now)
    account.session_version += 1
    account.save(update_fields=["access_token", "kite_user_id", "token_expires_at", "session_version", "updated_at"])
    kite_client.forget_client(account.pk)
    return account


def session_delete(*, account: Account) -> bool:
    """Invalidate the token at Kite (best effort) and forget it here. True when Kite confirmed."""
    confirmed = False
    if account.access_token and account.has_credentials:
        kite = kite_client.new_client(api_key=account.api_key or "", access_token=account.access_token,
                                      environment=account.environment)
        try:
            kite_client.call(kite, "other", "invalidate_access_token")
            confirmed = True
        except KiteError as exc:
            log.warning("Kite did not confirm the logout of account %s: %s", account.pk, exc.error_type)
        finally:
            kite.reqsession.close()
    account.access_token = None
    account.token_expires_at = None
    account.session_version += 1
    account.save(update_fields=["access_token", "token_expires_at", "session_version", "updated_at"])
    kite_client.forget_client(account.pk)
    return confirmed


# --- Tool execution ---------------------------------------------------------------------------------

@dataclass
class _Context:
    """What a tool handler sees: calls to Kite through the account's cached client."""

    account: Account
    kite: Any
    def call(self, endpoint_class: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return kite_client.call(self.kite, endpoint_class, method, *args, **kwargs)
        except RateLimitExceeded as exc:
            raise ToolError(str(exc), type="rate_limited", status_code=429) from None

    def instruments(self) -> instruments.InstrumentIndex:
        return instruments.instrument_index(self.kite.root, lambda: self.call("other", "instruments"))


@dataclass
class ToolCall:
    """A validated call of a tool on one of the user's accounts, checked and ready to run."""

    tool: Tool
    args: ToolArgs
    account: Account
    user: AbstractBaseUser
    path: str

    @property
    def summary(self) -> dict[str, Any]:
        return self.args.model_dump(exclude_none=True)


def _audit(*, user: AbstractBaseUser, path: str, tool_name: str, arguments: Any, outcome: str,
           account: Account | None = None, order_id: str = "", error: ToolError | None = None) -> None:
    OrderAudit.objects.create(
        user=user, username=user.get_username(), path=path, account=account,
        account_name=account.name if account else "", tool=tool_name,
        arguments=to_json(arguments) if isinstance(arguments, dict) else {"raw": repr(arguments)[:500]},
        outcome=outcome, order_id=order_id or "", error_type=error.type if error else "",
        message=error.message if error else "",
    )


def tool_call_prepare(*, user: AbstractBaseUser, tool_name: Any, arguments: Any, path: str,
                      account_ids: Collection[int] | None = None) -> ToolCall:
    """Validate and check a call without sending anything. Refusals of order tools are audited.

    `account_ids` narrows the user's accounts to those a caller may use (the MCP server's served set):
    any other account is answered exactly like a missing one.
    """
    tool = get_tool(tool_name)
    account: Account | None = None
    try:
        args = tool.validate(arguments)
        if account_ids is not None and args.account_id not in account_ids:
            raise ToolError("No such account.", type="not_found", status_code=404)
        account = account_get_for_user(user=user, account_id=args.account_id, only=_LIGHT_FIELDS)
        if not tool.read_only and not account.trading_enabled:
            raise ToolError(f"Trading is disabled on account {account.name!r}: nothing was sent. Allow trading in "
                            "the account's settings first.", type="trading_disabled", status_code=403)
        now = timezone.now()
        if account.token_expires_at is None or account.token_expires_at <= now:
            raise session_expired(account.name)
    except ToolError as error:
        if not tool.read_only:
            _audit(user=user, path=path, tool_name=tool.name, arguments=arguments, outcome=OrderAudit.Outcome.REFUSED,
                   account=account, error=error)
        raise
    return ToolCall(tool=tool, args=args, account=account, user=user, path=path)


def tool_call_refuse(call: ToolCall, error: ToolError, *, outcome: str = OrderAudit.Outcome.DECLINED) -> ToolError:
    """Record that a prepared order was not sent (e.g. the human declined) and return the error to raise."""
    _audit(user=call.user, path=call.path, tool_name=call.tool.name, arguments=call.summary, outcome=outcome,
           account=call.account, error=error)
    return error


def tool_call_run(call: ToolCall) -> Any:
    """Send the call to Kite once (orders are never retried) and return what Kite returned, as JSON."""
    account = call.account
    write = not call.tool.read_only
    try:
        ctx = _Context(account=account, kite=kite_client.client_for(account))
        try:
            result = _run_with_read_retries(call, ctx)
        except KiteError as exc:
            if exc.error_type == "TokenException":
                _mark_expired(account)
            error = tool_error_from_kite(exc, account_name=account.name)
            # A timeout or a broken connection after sending: Kite may have taken the order. (When no
            # connection was made at all, kite_unreachable, nothing was sent and the error says so.)
            if write and exc.error_type in ("kite_timeout", "kite_connection_lost"):
                error = _unknown_outcome(error)
            raise error from None
    except ToolError as error:
        if write:
            unknown = error.type == "order_outcome_unknown"
            _audit(user=call.user, path=call.path, tool_name=call.tool.name, arguments=call.summary,
                   outcome=OrderAudit.Outcome.UNKNOWN if unknown else OrderAudit.Outcome.FAILED,
                   account=account, error=error)
        raise
    data = to_json(result)
    if write:
        _audit(user=call.user, path=call.path, tool_name=call.tool.name, arguments=call.summary,
               outcome=OrderAudit.Outcome.SENT, account=account, order_id=str(data.get("order_id", "")))
    return data


def _unknown_outcome(error: ToolError) -> ToolError:
    return ToolError(f"{error.message} The order may or may not have reached Kite: check today's orders "
                     "(get_orders) before you try again.", type="order_outcome_unknown", status_code=error.status_code)


_READ_RETRY_DELAYS = (0.5, 1.0, 2.0)


def _run_with_read_retries(call: ToolCall, ctx: _Context) -> Any:
    """Reads that still earn a 429 are retried with backoff; writes never are."""
    for attempt, delay in enumerate((*_READ_RETRY_DELAYS, None)):
        try:
            return call.tool.handler(ctx, call.args)
        except KiteError as exc:
            rate_limited = exc.error_type == "NetworkException" and exc.http_status == 429
            if not call.tool.read_only or not rate_limited or delay is None:
                raise
            log.info("Kite rate-limited %s (attempt %d); retrying in %.1f s", call.tool.name, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def tool_execute(*, user: AbstractBaseUser, tool_name: Any, arguments: Any, path: str = "api") -> Any:
    return tool_call_run(tool_call_prepare(user=user, tool_name=tool_name, arguments=arguments, path=path))

