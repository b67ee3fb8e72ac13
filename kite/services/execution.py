"""The tool pipeline behind every front (REST, MCP, pages): validate, gate, run once, audit.

`tool_call_prepare` checks a call without sending anything; `tool_call_run` sends it; a front that
asks the human in between (MCP) records a "no" with `tool_call_refuse`. Everything a step needs to
know about a tool is on its registry entry (kite.tools): its rate class, whether it writes, how it
describes itself, which field of the answer names what Kite created.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import Account
from kite import client as kite_client
from kite import instruments
from kite.errors import (
    KiteConnectionLost,
    KiteError,
    KiteTimeout,
    NotFound,
    OutcomeUnknown,
    ServiceError,
    SessionExpired,
    TradingDisabled,
    from_kite,
)
from kite.models import OrderAudit
from kite.services.guardrails import guardrails_check, order_rate_check
from kite.services.sessions import session_mark_expired
from kite.tools import Args, Exposure, RateClass, Tool, get_tool, to_json

log = logging.getLogger(__name__)
# Columns needed to serve a call from a cached client: nothing encrypted, nothing decrypted.
LIGHT_FIELDS = ("id", "user_id", "name", "environment", "session_version", "token_expires_at", "kite_user_id",
                "trading_enabled", "confirm_orders", "max_order_value", "max_orders_per_day")


@dataclass
class _Context:
    """What a tool handler sees (kite.tools.ToolContext): calls to Kite through the account's cached client."""

    tool: Tool
    user: AbstractBaseUser
    account: Account | None
    account_ids: Collection[int] | None
    _kite: Any = field(default=None, repr=False)

    def _client(self) -> Any:
        if self._kite is None:
            assert self.account is not None, f"{self.tool.name} takes no account"
            self._kite = kite_client.client_for(self.account)
        return self._kite

    def call(self, method: str, *args: Any, rate_class: RateClass | None = None, **kwargs: Any) -> Any:
        return kite_client.call(self._client(), rate_class or self.tool.rate_class, method, *args, **kwargs)

    def instruments(self) -> instruments.InstrumentIndex:
        return instruments.instrument_index(self._client().root,
                                            lambda: self.call("instruments", rate_class="other"))

    def last_price(self, instrument: str) -> float | None:
        """Kite's last price of one instrument, or None when Kite could not say."""
        try:
            answer = self.call("ltp", [instrument], rate_class="quote") or {}
        except (KiteError, ServiceError) as exc:
            log.info("No last price for %s: %s", instrument, exc)
            return None
        price = (answer.get(instrument) or {}).get("last_price")
        return float(price) if isinstance(price, (int, float)) else None


@dataclass
class ToolCall:
    """A validated call of a tool on one of the user's accounts, checked and ready to run."""

    tool: Tool
    args: Args
    account: Account | None
    user: AbstractBaseUser
    path: str
    account_ids: Collection[int] | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        return self.args.model_dump(exclude_none=True)

    @property
    def summary(self) -> str:
        """The write in one sentence, as the human is asked and the audit log keeps it ("" for a read)."""
        return self.tool.summary(self.args, self.account) if self.tool.write else ""

    @property
    def exposure(self) -> Exposure | None:
        """The new order this call would place, if any (guardrails apply to it)."""
        opens = self.tool.write.opens if self.tool.write else None
        return opens(self.args) if opens is not None else None


def _check_guardrails(call: ToolCall, ctx: _Context) -> None:
    exposure = call.exposure
    if exposure is not None and call.account is not None:
        guardrails_check(account=call.account, exposure=exposure,
                         last_price=lambda: ctx.last_price(exposure.instrument))


def _audit(*, user: AbstractBaseUser, path: str, tool: Tool, arguments: Any, outcome: str,
           account: Account | None = None, summary: str = "", created_id: str = "",
           error: ServiceError | None = None, exposure: Exposure | None = None) -> None:
    OrderAudit.objects.create(
        user=user, username=user.get_username(), path=path, account=account,
        account_name=account.name if account else "", tool=tool.name, summary=summary,
        order_key=exposure.key if exposure is not None else "",
        arguments=to_json(arguments) if isinstance(arguments, dict) else {"raw": repr(arguments)[:500]},
        outcome=outcome, order_id=created_id, error_type=error.type if error else "",
        message=error.message if error else "",
    )


def tool_call_prepare(*, user: AbstractBaseUser, tool_name: Any, arguments: Any, path: str,
                      account_ids: Collection[int] | None = None) -> ToolCall:
    """Validate and check a call without sending anything. Refusals of write tools are audited.

    `account_ids` narrows the user's accounts to those a caller may use (the MCP server's served set):
    any other account is answered exactly like a missing one.
    """
    tool = get_tool(tool_name)
    account: Account | None = None
    args: Args | None = None
    try:
        args = tool.validate(arguments)
        if tool.needs_account:
            account_id = args.account_id  # type: ignore[attr-defined]
            if account_ids is not None and account_id not in account_ids:
                raise NotFound()
            account = account_selectors.account_get(user=user, account_id=account_id, only=LIGHT_FIELDS)
            if tool.write and not account.trading_enabled:
                raise TradingDisabled(f"Trading is disabled on account {account.name!r}: nothing was sent. Allow "
                                      "trading in the account's settings first.")
            if tool.needs_session and (account.token_expires_at is None or account.token_expires_at <= timezone.now()):
                raise SessionExpired(account.name)
        call = ToolCall(tool=tool, args=args, account=account, user=user, path=path, account_ids=account_ids)
        _check_guardrails(call, _context(call))  # before anyone is asked; again just before sending
    except ServiceError as error:
        if tool.write:
            _audit(user=user, path=path, tool=tool, arguments=arguments, outcome=OrderAudit.Outcome.REFUSED,
                   account=account, summary=tool.summary(args, account) if args is not None else "", error=error)
        raise
    return call


def _context(call: ToolCall) -> _Context:
    return _Context(tool=call.tool, user=call.user, account=call.account, account_ids=call.account_ids)


def tool_call_refuse(call: ToolCall, error: ServiceError | None, *, outcome: str = OrderAudit.Outcome.DECLINED
                     ) -> ServiceError | None:
    """Record that a prepared write was not sent (the human declined; it waits for approval) and return the
    error to raise, if any."""
    _audit(user=call.user, path=call.path, tool=call.tool, arguments=call.arguments, outcome=outcome,
           account=call.account, summary=call.summary, error=error)
    return error


def tool_call_run(call: ToolCall) -> Any:
    """Send the call to Kite once (writes are never retried) and return what Kite returned, as JSON."""
    tool, account = call.tool, call.account
    ctx = _context(call)
    try:
        if tool.write and account is not None:
            order_rate_check(account=account)
        _check_guardrails(call, ctx)
    except ServiceError as error:
        tool_call_refuse(call, error, outcome=OrderAudit.Outcome.REFUSED)
        raise
    try:
        try:
            result = _run_with_read_retries(call, ctx)
        except KiteError as exc:
            assert account is not None
            if exc.error_type == "TokenException":
                session_mark_expired(account=account)
            error = from_kite(exc, account_name=account.name)
            # A timeout or a broken connection after sending: Kite may have acted on it. (When no connection
            # was made at all, kite_unreachable, nothing was sent and the error says so.)
            if tool.write and isinstance(error, (KiteTimeout, KiteConnectionLost)):
                error = OutcomeUnknown(error, advice=tool.write.unknown_outcome)
            raise error from None
    except ServiceError as error:
        if tool.write:
            outcome = OrderAudit.Outcome.UNKNOWN if isinstance(error, OutcomeUnknown) else OrderAudit.Outcome.FAILED
            _audit(user=call.user, path=call.path, tool=tool, arguments=call.arguments, outcome=outcome,
                   account=account, summary=call.summary, error=error, exposure=call.exposure)
        raise
    data = to_json(result)
    if tool.write:
        created = data.get(tool.write.creates, "") if isinstance(data, dict) else ""
        _audit(user=call.user, path=call.path, tool=tool, arguments=call.arguments, outcome=OrderAudit.Outcome.SENT,
               account=account, summary=call.summary, created_id=str(created or ""), exposure=call.exposure)
    return data


_READ_RETRY_DELAYS = (0.5, 1.0, 2.0)


def _run_with_read_retries(call: ToolCall, ctx: _Context) -> Any:
    """Reads that still earn a 429 are retried with backoff; writes never are."""
    for attempt, delay in enumerate((*_READ_RETRY_DELAYS, None)):
        try:
            return call.tool.handler(ctx, call.args)
        except KiteError as exc:
            if call.tool.write or exc.http_status != 429 or delay is None:
                raise
            log.info("Kite rate-limited %s (attempt %d); retrying in %.1f s", call.tool.name, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def tool_execute(*, user: AbstractBaseUser, tool_name: Any, arguments: Any, path: str = "api",
                 account_ids: Collection[int] | None = None) -> Any:
    """Prepare and run in one go: for fronts that ask nobody in between (REST, pages)."""
    call = tool_call_prepare(user=user, tool_name=tool_name, arguments=arguments, path=path, account_ids=account_ids)
    return tool_call_run(call)
