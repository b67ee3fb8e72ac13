"""Kite's JSON error envelope for every error the sandbox's views did not answer themselves.

Views answer through `sandbox.http` (envelopes already). Anything else that answers an error (a
middleware refusing a host, Django's own 404/500 handling) would be an HTML page: a Kite client
must see `{"status": "error", ..., "error_type"}` instead, never a page or a traceback. The login
page's deliberate HTML error answers (`response.sandbox_page`) pass untouched.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from sandbox.errors import STATUS_ERROR_TYPES, error_response

_MESSAGES = {400: "Bad request.", 403: "Forbidden.", 404: "Route not found", 405: "Method not allowed",
             413: "The request is too large."}


class KiteErrorEnvelopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code >= 400 and "json" not in response.get("Content-Type", "")
                and not getattr(response, "sandbox_page", False)):
            status = response.status_code
            return error_response(_MESSAGES.get(status, "Something went wrong in the sandbox (see its log)."),
                                  STATUS_ERROR_TYPES.get(status, "GeneralException"), status)
        return response
