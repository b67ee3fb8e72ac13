"""One exception handler for the whole API: every error body is
`{"error": {"type", "message", "fields"?}}` (CONTRACT section 4). Views raise; they never build
error responses by hand. The service's own errors (kite.errors, framework-free) are mapped here,
once: their status, their body, and `Retry-After` on a rate limit."""
from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kite import errors as kite_errors
from kite.errors import ServiceError

_TYPES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail lists as plain strings (first message per field is enough for a human)."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(d, (dict, list)) for d in detail):
            return [str(d) for d in detail]
        return [_flatten(d) for d in detail]
    return [str(detail)]


def error_body(type: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": kite_errors.error_body(type, message, fields)}


def service_error_response(error: ServiceError) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))} if error.retry_after is not None else None
    return Response({"error": error.body()}, status=error.status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return service_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's 500 handling (and logging) applies
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = _flatten(detail)
        first_field, first_errors = next(iter(fields.items()))
        first = first_errors[0] if isinstance(first_errors, list) and first_errors else first_errors
        where = "" if first_field == "non_field_errors" else f"{first_field}: "
        response.data = error_body("invalid", f"Invalid input ({where}{first}).", fields)
        return response
    kind = next((t for cls, t in _TYPES.items() if isinstance(exc, cls)), "error")
    message = str(exc.detail) if isinstance(getattr(exc, "detail", None), str) else str(exc)
    response.data = error_body(kind, message)
    return response


# --- Strict input ------------------------------------------------------------------------------------
# DRF is lenient by default (123 becomes "123", "yes" becomes True, unknown keys are ignored). Money
# is involved: a request that is not exactly what we document is refused with a field error.
from rest_framework import serializers  # noqa: E402


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictAmountField(serializers.DecimalField):
    """Rupees as a JSON number (not a string, not a boolean), read back as a number too."""

    default_error_messages = {"invalid": "Must be a number of rupees, or null."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(round(data, 2) if isinstance(data, float) else data)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, and a body that is not a JSON object."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


# --- Errors outside DRF views (unknown URL, crash) still answer the API's error body under /api/ ------
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.views import defaults  # noqa: E402


def api_aware_404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
    return defaults.page_not_found(request, exception)


def api_aware_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Something went wrong on our side; it has been logged."),
                            status=500)
    return defaults.server_error(request)


def api_aware_400(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own 400s (a body over the size limit, a bad Host, a malformed request) under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("bad_request", "The request could not be read (too large or malformed)."),
                            status=400)
    return defaults.bad_request(request, exception)


def api_aware_403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, exception)


def api_aware_csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal: the API's error body under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("csrf_failed", f"CSRF check failed ({reason}): send the csrftoken cookie's "
                                                      "value as X-CSRFToken, or use Authorization: Token."),
                            status=403)
    from django.views.csrf import csrf_failure

    return csrf_failure(request, reason=reason)
