"""The error catalogue of the Kite service: one class per kind of failure, framework-free.

Each class carries its `type` (the `error.type` a caller reads, CONTRACT section 4) and its HTTP
status; plain Python code raises them and knows nothing of DRF or MCP. Each front maps them in one
place: `config.api.exception_handler` (REST, with `Retry-After` on rate limits), `mcp_bridge.server`
(an `isError` tool result), the pages (a message). In the spirit of Zulip's `JsonableError`.

`KiteError` is different: what Kite (or the transport to it) answered, raised by `kite.client` and
turned into a catalogue error by `from_kite` before it leaves the service.
"""
from __future__ import annotations

from typing import Any


def error_body(type: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error body of every front: `{"type", "message", "fields"?}` (REST wraps it in "error")."""
    body: dict[str, Any] = {"type": type, "message": message}
    if fields:
        body["fields"] = fields
    return body


class ServiceError(Exception):
    """A refusal or failure to report to the caller: a `type`, a human `message`, an HTTP status."""

    type: str = "error"  # class defaults; Kite's own errors set theirs per instance
    status: int = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        return error_body(self.type, self.message, self.fields)


# --- The caller's input --------------------------------------------------------------------------

class InvalidInput(ServiceError):
    type, status = "invalid", 400


class UnknownTool(ServiceError):
    type, status = "unknown_tool", 400


class UnknownInstrument(ServiceError):
    type, status = "unknown_instrument", 400


class NotFound(ServiceError):
    type, status = "not_found", 404

    def __init__(self, message: str = "No such account.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


# --- The account's state -------------------------------------------------------------------------

class NeedsCredentials(ServiceError):
    type, status = "needs_credentials", 400


class SessionExpired(ServiceError):
    type, status = "session_expired", 401

    def __init__(self, account_name: str, *, detail: str = "") -> None:
        why = f" Kite said: {detail}" if detail else ""
        super().__init__(
            f"The Kite session of account {account_name!r} has expired or was never started.{why} "
            "Log in again: POST /api/kite/auth {\"action\": \"login\"}, the account's Connect button, "
            "or the `login` tool.")


class TradingDisabled(ServiceError):
    type, status = "trading_disabled", 403


class Guardrail(ServiceError):
    """One of the account's own limits (or the duplicate rule) refuses the order: nothing was sent."""

    type, status = "guardrail", 403


class RateLimited(ServiceError):
    """Our own pacing refused a call that would have waited too long for Kite's per-key limit."""

    type, status = "rate_limited", 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- Login -----------------------------------------------------------------------------------------

class LoginFailed(ServiceError):
    type, status = "login_failed", 400


class LoginStateInvalid(ServiceError):
    type, status = "login_state_invalid", 400


class LoginStateExpired(ServiceError):
    type, status = "login_state_expired", 400


class KiteUserMismatch(ServiceError):
    type, status = "kite_user_mismatch", 409


# --- The sandbox's provisioning ------------------------------------------------------------------

class SandboxUnreachable(ServiceError):
    type, status = "sandbox_unreachable", 502


class SandboxRefused(ServiceError):
    type, status = "sandbox_error", 502


# --- Kite and the way to it ------------------------------------------------------------------------

class KiteUnreachable(ServiceError):
    """No connection could be made: nothing was sent."""

    type, status = "kite_unreachable", 502


class KiteConnectionLost(ServiceError):
    type, status = "kite_connection_lost", 502


class KiteTimeout(ServiceError):
    type, status = "kite_timeout", 504


class KiteBadAnswer(ServiceError):
    """Kite (or a gateway before it) answered, but not in Kite's shape: what the request did is not known."""

    type, status = "kite_bad_answer", 502


# Kite's error_type -> our HTTP status (CONTRACT section 4).
KITE_STATUS = {
    "InputException": 400,
    "OrderException": 422,
    "MarginException": 422,
    "HoldingException": 422,
    "PermissionException": 403,
    "UserException": 403,
    "TwoFAException": 403,
    "TokenException": 401,
    "NetworkException": 502,
    "DataException": 502,
    "GeneralException": 502,
}


class KiteRefused(ServiceError):
    """Kite answered with an error: its own `error_type` is the type, its message is passed on."""

    status = 502

    def __init__(self, message: str, *, kite_type: str, http_status: int | None = None) -> None:
        super().__init__(f"Kite: {message}")
        self.type = kite_type
        self.status = 429 if http_status == 429 else KITE_STATUS.get(kite_type, 502)


class OutcomeUnknown(ServiceError):
    """A write whose answer was lost after it was sent: Kite may or may not have acted on it."""

    type = "order_outcome_unknown"

    def __init__(self, cause: ServiceError, *, advice: str) -> None:
        super().__init__(f"{cause.message} It may or may not have reached Kite: {advice}")
        self.status = cause.status  # 502 (connection lost) or 504 (timeout)


# --- Confirmation by the human (MCP) ---------------------------------------------------------------

class NotConfirmed(ServiceError):
    """The human did not say yes to this exact write: nothing was sent."""

    type, status = "not_confirmed", 403


class ConfirmationUnavailable(NotConfirmed):
    type = "confirmation_unavailable"


class ConfirmationFailed(NotConfirmed):
    type = "confirmation_failed"


class ConfirmationTimeout(NotConfirmed):
    type = "confirmation_timeout"


class ConfirmationAbandoned(NotConfirmed):
    type = "confirmation_abandoned"


class OrderDeclined(NotConfirmed):
    type = "order_declined"


class OrderCancelled(NotConfirmed):
    """The confirmation was dismissed (MCP's `cancel`)."""

    type = "order_cancelled"


class InsufficientScope(ServiceError):
    """The OAuth token of a remote MCP client was not granted the scope this tool needs: nothing was read or
    sent."""

    type, status = "insufficient_scope", 403


class IdempotencyKeyReused(ServiceError):
    type, status = "idempotency_key_reused", 409


class AlreadyInProgress(ServiceError):
    """A request with this Idempotency-Key is still running: nothing more is sent."""

    type, status = "idempotency_in_progress", 409


class Replayed(ServiceError):
    """The first answer to an Idempotency-Key, given again: nothing more was sent."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        super().__init__(str(body.get("message", "")), fields=body.get("fields"))
        self.type = str(body.get("type", "error"))
        self.status = status


class InternalError(ServiceError):
    type, status = "internal_error", 500


# --- Pushed to us: Kite's postbacks, the ticker's batches ----------------------------------------------------

class PostbackRefused(ServiceError):
    """A postback that no account's secret verifies (forged, altered, or for an account not here): nothing
    recorded, and the answer does not say which part failed."""

    type, status = "postback_unverified", 403


class PostbackUnreadable(ServiceError):
    """A postback body that is not a JSON object."""

    type, status = "parse_error", 400


class LiveIngestRefused(ServiceError):
    """A batch for POST /kite/live/ingest that is not signed by a process holding this SECRET_KEY (or is stale,
    or malformed): nothing delivered."""

    type, status = "live_ingest_refused", 403


# --- What Kite answered ----------------------------------------------------------------------------

class KiteError(Exception):
    """An error answer from Kite (or from the transport to it), before the service maps it."""

    def __init__(self, error_type: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.http_status = http_status


_TRANSPORT = {"kite_timeout": KiteTimeout, "kite_unreachable": KiteUnreachable,
              "kite_connection_lost": KiteConnectionLost, "kite_bad_answer": KiteBadAnswer}


def from_kite(exc: KiteError, *, account_name: str) -> ServiceError:
    """The catalogue error for what Kite (or the way to it) answered."""
    if exc.error_type == "TokenException":
        return SessionExpired(account_name, detail=exc.message)
    transport = _TRANSPORT.get(exc.error_type)
    if transport is not None:
        return transport(exc.message)
    return KiteRefused(exc.message, kite_type=exc.error_type, http_status=exc.http_status)
