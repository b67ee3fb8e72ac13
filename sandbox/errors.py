"""Kite's error envelope: `{"status": "error", "message", "data": null, "error_type"}`.

Services and views raise a KiteError; one place (sandbox.http) turns it into the response.
"""
from __future__ import annotations

from django.http import JsonResponse


class KiteError(Exception):
    status = 400
    error_type = "GeneralException"

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type

    def response(self) -> JsonResponse:
        return error_response(self.message, self.error_type, self.status)


class InputError(KiteError):
    status, error_type = 400, "InputException"


class TokenError(KiteError):
    status, error_type = 403, "TokenException"


class OrderError(KiteError):
    status, error_type = 400, "OrderException"


class MarginError(KiteError):
    status, error_type = 400, "MarginException"


class PermissionDenied(KiteError):
    status, error_type = 403, "PermissionException"


class RateLimited(KiteError):
    status, error_type = 429, "NetworkException"


BAD_SESSION = "Incorrect `api_key` or `access_token`."
BAD_CHECKSUM = "Invalid `checksum`."
BAD_REQUEST_TOKEN = "Token is invalid or has expired."


def error_response(message: str, error_type: str, status: int) -> JsonResponse:
    return JsonResponse({"status": "error", "message": message, "data": None, "error_type": error_type},
                        status=status)


def success_response(data: object) -> JsonResponse:
    return JsonResponse({"status": "success", "data": data}, safe=False)


# error_type for a bare HTTP status (responses that did not come from a sandbox view)
STATUS_ERROR_TYPES = {400: "InputException", 403: "PermissionException", 429: "NetworkException",
                      502: "NetworkException", 503: "NetworkException"}
