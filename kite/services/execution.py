"""The tool pipeline behind every front (REST, MCP, pages): validate, gate, run once, audit.

`tool_call_prepare` checks a call without sending anything; `tool_call_run` sends it; a front that
asks the human in between (MCP) records a "no" with `tool_call_refuse`. Everything a step needs to
know about a tool is on its registry entry (kite.tools): its rate class, whether it writes, how it
describes itself, which field of the answer names what Kite created.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import Account
from kite import client as kite_client
from kite import instruments
from kite.errors import (
    AlreadyInProgress,
    IdempotencyKeyReused,
    InternalError,
    KiteBadAnswer,
    KiteConnectionLost,
    KiteError,
    KiteTimeout,
    NotFound,
    OutcomeUnknown,
    Replayed,
    ServiceError,
    SessionExpired,
    TradingDisabled,
    from_kite,
)
from kite.ist import iso_ist
from kite.models import IdempotencyKey, OrderAudit
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

    def mf_instruments(self) -> instruments.InstrumentIndex:
        return instruments.instrument_index(self._client().root,
                                            lambda: self.call("mf_instruments", rate_class="other"),
                                            mutual_funds=True)

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
    details: str = ""  # what the thing a write changes is now (tool_call_recognise), for the human
    # The last price the guardrails valued a MARKET order at, and when: the check just before sending reuses
    # it if it is fresh (Kite allows one quote call a second; fetching it twice in a row made every such
    # REST order wait a second for its own second quote).
    priced: tuple[float, float | None] | None = field(default=None, repr=False)

    @property
    def arguments(self) -> dict[str, Any]:
        return self.args.model_dump(exclude_none=True)

    @property
    def summary(self) -> str:
        """The write in one sentence, as the human is asked and the audit log keeps it ("" for a read)."""
        return self.tool.summary(self.args, self.account, self.details) if self.tool.write else ""

    @property
    def exposure(self) -> Exposure | None:
        """The new order this call would place, if any (guardrails apply to it)."""
        opens = self.tool.write.opens if self.tool.write else None
        return opens(self.args) if opens is not None else None


PRICE_FRESH_SECONDS = 5.0  # how long a last price read for the guardrails still values the same order


def _check_guardrails(call: ToolCall, ctx: _Context) -> None:
    exposure = call.exposure
    if exposure is None or call.account is None:
        return

    def last_price() -> float | None:
        if call.priced is None or time.monotonic() - call.priced[0] > PRICE_FRESH_SECONDS:
            call.priced = (time.monotonic(), ctx.last_price(exposure.instrument))
        return call.priced[1]

    guardrails_check(account=call.account, exposure=exposure, last_price=last_price)


def _audit(*, user: AbstractBaseUser, path: str, tool: Tool, arguments: Any, outcome: str,
           account: Account | None = None, summary: str = "", created_id: str = "",
           error: ServiceError | None = None, exposure: Exposure | None = None, message: str = "") -> None:
    OrderAudit.objects.create(
        user=user, username=user.get_username(), path=path, account=account,
        account_name=account.name if account else "", tool=tool.name, summary=summary,
        order_key=exposure.key if exposure is not None else "",
        arguments=to_json(arguments) if isinstance(arguments, dict) else {"raw": repr(arguments)[:500]},
        outcome=outcome, order_id=created_id, error_type=error.type if error else "",
        message=error.message if error else message,
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


def tool_call_recognise(call: ToolCall) -> ToolCall:
    """Before a human is asked: read from Kite what the order, GTT or SIP a write changes is now, so the
    question names it, not only its id. Best effort: if Kite cannot say, the question says so."""
    recognise = call.tool.write.recognise if call.tool.write else None
    if recognise is not None and call.account is not None:
        try:
            call.details = recognise(_context(call), call.args)
        except (KiteError, ServiceError) as exc:
            log.info("Could not read what %s changes: %s", call.tool.name, exc)
            call.details = "Kite did not say what it is now"
    return call


def tool_call_refuse(call: ToolCall, error: ServiceError | None, *, outcome: str = OrderAudit.Outcome.DECLINED
                     ) -> ServiceError | None:
    """Record that a prepared write was not sent (the human declined; it waits for approval) and return the
    error to raise, if any."""
    _audit(user=call.user, path=call.path, tool=call.tool, arguments=call.arguments, outcome=outcome,
           account=call.account, summary=call.summary, error=error)
    return error


def order_tag(key: str) -> str:
    """The Kite `tag` an order carries, from its idempotency key: 20 letters and digits, found again by it."""
    return "kd" + hashlib.sha256(key.encode()).hexdigest()[:18]


def tool_call_run(call: ToolCall, *, idempotency_key: str | None = None) -> Any:
    """Send the call to Kite once (writes are never retried) and return what Kite returned, as JSON.

    A write that can carry a Kite `tag` and has none gets one derived from `idempotency_key` (a fresh one when
    none is given), so that when its answer is lost it can be found in today's orders and settled."""
    tool, account = call.tool, call.account
    note = ""
    if tool.write and "tag" in tool.args.model_fields and getattr(call.args, "tag", None) is None:
        call.args = call.args.model_copy(update={"tag": order_tag(idempotency_key or secrets.token_hex(16))})
    ctx = _context(call)
    try:
        if tool.write and tool.rate_class == "orders" and account is not None:
            order_rate_check(account=account, tool_name=tool.name)
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
            if tool.write and isinstance(error, (KiteTimeout, KiteConnectionLost, KiteBadAnswer)):
                settled = _settle_by_tag(call, ctx)
                if settled is not None:
                    result, note = settled, f"{error.message} Found in today's orders by its tag {call.args.tag}."
                else:
                    raise OutcomeUnknown(error, advice=tool.write.unknown_outcome) from None
            else:
                raise error from None
    except ServiceError as error:
        if tool.write:
            outcome = OrderAudit.Outcome.UNKNOWN if isinstance(error, OutcomeUnknown) else OrderAudit.Outcome.FAILED
            _audit(user=call.user, path=call.path, tool=tool, arguments=call.arguments, outcome=outcome,
                   account=account, summary=call.summary, error=error, exposure=call.exposure)
        raise
    data = to_json(result)
    if tool.write:
        creates = tool.write.creates
        created = data.get(creates, "") if creates and isinstance(data, dict) else ""
        _audit(user=call.user, path=call.path, tool=tool, arguments=call.arguments, outcome=OrderAudit.Outcome.SENT,
               account=account, summary=call.summary, created_id=str(created or ""), exposure=call.exposure,
               message=note)
    return data


def _settle_by_tag(call: ToolCall, ctx: _Context) -> dict[str, Any] | None:
    """After a lost answer: the order Kite has under this call's tag (exactly one), as the answer; else None."""
    tag = getattr(call.args, "tag", None)
    if not tag:
        return None
    try:
        orders = ctx.call("orders", rate_class="other") or []
    except (KiteError, ServiceError) as exc:
        log.warning("Could not look up tag %s after a lost answer: %s", tag, exc)
        return None
    found = [o for o in orders if isinstance(o, dict) and (o.get("tag") == tag or tag in (o.get("tags") or []))]
    ids = list(dict.fromkeys(str(o.get("order_id")) for o in found))
    if len(ids) != 1:
        log.warning("Tag %s after a lost answer: %d orders found, not settled", tag, len(ids))
        return None
    log.info("A lost answer settled by its tag %s: order %s", tag, ids[0])
    return {"order_id": ids[0]}


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
                 account_ids: Collection[int] | None = None, idempotency_key: str | None = None) -> Any:
    """Prepare and run in one go: for fronts that ask nobody in between (REST, pages).

    With an `idempotency_key`, a write is sent at most once for that key: a repeat gets the first answer
    (or is told the first is still running), whatever happened in between."""
    tool = get_tool(tool_name)
    record = None
    if idempotency_key and tool.write:
        try:
            record = _idempotency_claim(user=user, key=idempotency_key, tool=tool, arguments=arguments)
        except _Answered as first:
            return first.data
    try:
        call = tool_call_prepare(user=user, tool_name=tool_name, arguments=arguments, path=path,
                                 account_ids=account_ids)
        data = tool_call_run(call, idempotency_key=idempotency_key)
    except ServiceError as error:
        if record is not None:
            _idempotency_finish(record, {"error": error.body()}, error.status)
        raise
    except Exception:
        if record is not None:  # a bug: the key stays used, and says so (never a second send)
            _idempotency_finish(record, {"error": InternalError("The first request with this key failed on our "
                                                                "side; check get_orders.").body()}, 500)
        raise
    if record is not None:
        _idempotency_finish(record, {"data": data}, 200)
    return data


def _fingerprint(tool: Tool, arguments: Any) -> str:
    return hashlib.sha256(json.dumps([tool.name, arguments], sort_keys=True, default=str).encode()).hexdigest()


def _idempotency_claim(*, user: AbstractBaseUser, key: str, tool: Tool, arguments: Any) -> IdempotencyKey:
    """Our row for this key, or the first answer again (Replayed) / AlreadyInProgress / IdempotencyKeyReused."""
    fingerprint = _fingerprint(tool, arguments)
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, tool=tool.name, fingerprint=fingerprint)
    except IntegrityError:
        first = IdempotencyKey.objects.get(user=user, key=key)
    if first.fingerprint != fingerprint:
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used at {iso_ist(first.created_at)} for another "
                                   f"request ({first.tool}); nothing was sent. Use a new key for a new request.")
    if first.state == IdempotencyKey.State.RUNNING:
        raise AlreadyInProgress(f"A request with Idempotency-Key {key!r} is still running; nothing more was sent. "
                                "Ask again in a moment for its answer.")
    answer = first.answer or {}
    if "error" in answer:
        raise Replayed(answer["error"], first.status_code or 500)
    raise _Answered(answer.get("data"))


class _Answered(Exception):  # noqa: N818 - not an error: the first answer to an idempotency key
    def __init__(self, data: Any) -> None:
        super().__init__("answered before")
        self.data = data


def _idempotency_finish(record: IdempotencyKey, answer: dict[str, Any], status: int) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(state=IdempotencyKey.State.DONE, answer=answer,
                                                       status_code=status)
