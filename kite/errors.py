"""Errors of the Kite layer, each with the HTTP status and `type` of CONTRACT section 4.

`ToolError` is what every caller (the REST API, the MCP server, the pages) sees. `KiteError` is what
Kite answered, with Kite's own `error_type` (pykiteconnect folds MarginException, HoldingException and
UserException into GeneralException; we read the type from the response ourselves).
"""
from __future__ import annotations

from typing import Any

from config.api import ApiError


class ToolError(ApiError):
    """A refusal or failure to report to the caller: `type`, a human `message`, an HTTP status."""

    def __init__(self, message: str, *, type: str, status_code: int, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message, type=type, status_code=status_code, fields=fields)

    @property
    def message(self) -> str:
        return str(self.detail)


class KiteError(Exception):
    """An error answer from Kite (or from the transport to it)."""

    def __init__(self, error_type: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.http_status = http_status


# Kite's error_type -> our HTTP status (CONTRACT section 4).
_STATUS_BY_KITE_TYPE = {
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


def tool_error_from_kite(exc: KiteError, *, account_name: str) -> ToolError:
    if exc.error_type == "TokenException":
        return session_expired(account_name, detail=exc.message)
    if exc.error_type == "NetworkException" and exc.http_status == 429:
        return ToolError(f"Kite: {exc.message}", type="NetworkException", status_code=429)
    if exc.error_type == "kite_timeout":
        return ToolError(exc.message, type="kite_timeout", status_code=504)
    if exc.error_type in ("kite_unreachable", "kite_connection_lost"):
        return ToolError(exc.message, type=exc.error_type, status_code=502)
    status = _STATUS_BY_KITE_TYPE.get(exc.error_type, 502)
    return ToolError(f"Kite: {exc.message}", type=exc.error_type, status_code=status)


def session_expired(account_name: str, *, detail: str = "") -> ToolError:
    why = f" Kite said: {detail}" if detail else ""
    return ToolError(
        f"The Kite session of account {account_name!r} has expired or was never started.{why} "
        "Log in again: POST /api/kite/auth {\"action\": \"login\"}, the account's Connect button, "
        "or the MCP `login` tool.",
        type="session_expired", status_code=401,
    )
