"""One exception handler for the whole API: every error body is
`{"error": {"type", "message", "fields"?}}` (CONTRACT section 4). Views raise; they never build
error responses by hand. The service's own errors (kite.errors, framework-free) are mapped here,
once: their status, their body, and `Retry-After` on a rate limit."""
from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# --- JSON bodies: nesting is bounded ------------------------------------------------------------------
# Python's json (and every recursive step after it: serializers, copies, the error handler) recurses
# once per level, so `[` * 1000 was a RecursionError, i.e. a 500. No request of ours nests more than a
# few levels: the body is measured before it is parsed, without recursion, and refused past the limit.
# It comes first, before anything imports rest_framework.views: DRF's APIView reads
# DEFAULT_PARSER_CLASSES (this class) while its module is being imported. For the same reason nothing
# here imports rest_framework.views' dependants (drf_spectacular.openapi/.views) at module level.
MAX_JSON_DEPTH = 64
_JSON_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def json_nesting_exceeds(text: str, limit: int) -> bool:
    """Whether a JSON text opens more than `limit` arrays/objects inside each other (brackets inside
    strings do not count). Exact for valid JSON; invalid JSON gets the parser's own error after it."""
    depth, in_string, skip_before = 0, False, -1
    for match in _JSON_STRUCTURE.finditer(text):
        at, char = match.start(), match.group()
        if at < skip_before:
            continue  # the character after a backslash inside a string
        if in_string:
            if char == "\\":
                skip_before = at + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser, refusing a body nested deeper than MAX_JSON_DEPTH with a ParseError (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        raw = stream.read()
        encoding = (parser_context or {}).get("encoding", django_settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if json_nesting_exceeds(text, MAX_JSON_DEPTH):
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)


from rest_framework.response import Response  # noqa: E402
from rest_framework.views import exception_handler as drf_exception_handler  # noqa: E402

from kite import errors as kite_errors  # noqa: E402
from kite.errors import ServiceError  # noqa: E402

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


class DatabaseBusy(ServiceError):
    """Every PostgreSQL connection this process may open (DATABASE_POOL_SIZE) stayed in use for the pool's
    timeout. A request takes its connection at its first query, before anything is sent to Kite."""

    type, status = "database_busy", 503

    def __init__(self) -> None:
        super().__init__("The database is busy: every connection this server process may open is in use "
                         "(DATABASE_POOL_SIZE). Nothing was done; try again in a few seconds.")
        self.retry_after = 5.0


def _pool_exhausted(exc: BaseException) -> bool:
    """Django's OperationalError around psycopg's PoolTimeout (no connection came free in time)."""
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - installed with psycopg[pool]
        return False
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, PoolTimeout)


def error_body(type: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": kite_errors.error_body(type, message, fields)}


def service_error_response(error: ServiceError) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))} if error.retry_after is not None else None
    return Response({"error": error.body()}, status=error.status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return service_error_response(exc)
    if _pool_exhausted(exc):
        return service_error_response(DatabaseBusy())
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
from asgiref.sync import iscoroutinefunction, markcoroutinefunction  # noqa: E402
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


# --- Every answer under /api/ is not to be stored by a browser or a proxy (CONTRACT section 11) ---------
class ApiNoStoreMiddleware:
    """`Cache-Control: no-store` on every answer under /api/, errors included: outermost in MIDDLEWARE,
    so it also sees the answers Django's own 400/403/404/500 handlers give. Sync and async alike, so
    that under ASGI it costs no hop between the event loop and a thread."""

    sync_capable = async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._no_store(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._no_store(request, await self.get_response(request))

    @staticmethod
    def _no_store(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response


# --- Sign-in refused by django-axes (AXES_LOCKOUT_CALLABLE) ------------------------------------------------
def signin_lockout(request: HttpRequest, original_response: HttpResponse | None = None,
                   credentials: dict[str, Any] | None = None) -> HttpResponse:
    """The sign-in page again with a plain message (429), the same whether or not the username exists;
    for the admin's sign-in too."""
    from django.contrib.auth.forms import AuthenticationForm
    from django.shortcuts import render

    return render(request, "registration/login.html",
                  {"form": AuthenticationForm(request), "locked_out": True,
                   "cooloff_minutes": django_settings.SIGNIN_COOLOFF_MINUTES}, status=429)


# --- The OpenAPI schema (drf-spectacular) at GET /api/schema/ ---------------------------------------------
from drf_spectacular.extensions import OpenApiSerializerExtension  # noqa: E402
from drf_spectacular.utils import OpenApiResponse  # noqa: E402

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error body of the API (CONTRACT section 4).",
    "properties": {"error": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": "The kind of error, e.g. `invalid`, `not_found`, "
                                                      "`session_expired`, or Kite's own `error_type`."},
            "message": {"type": "string", "description": "A sentence for a human; Kite's message where Kite "
                                                         "sent one."},
            "fields": {"type": "object", "additionalProperties": True,
                       "description": "For invalid input: the messages, by field."},
        },
        "required": ["type", "message"],
    }},
    "required": ["error"],
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def error_response(description: str) -> OpenApiResponse:
    """An error status of one operation, for `extend_schema(responses=...)`: the envelope, described."""
    return OpenApiResponse(response=_ERROR_REF, description=description)


_COMMON_ERRORS = {
    "401": "Not signed in (`not_authenticated`) or a bad token (`authentication_failed`).",
    "403": "Not allowed (`permission_denied`, or `csrf_failed` for a browser session without the CSRF token).",
    "406": "The Accept header asks for something other than JSON (`not_acceptable`).",
}
_BODY_ERRORS = {
    "400": "Invalid input (`invalid`, with `fields`), or a body that is not JSON or nested too deeply "
           "(`parse_error`).",
    "415": "A body that is neither JSON nor a form (`unsupported_media_type`).",
}


def schema_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error envelope as the answer of every error status every
    view shares (those special to a view are in its `extend_schema`)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            errors = dict(_COMMON_ERRORS)
            if method in ("post", "put", "patch"):
                errors.update(_BODY_ERRORS)
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                errors["404"] = "No such object, or not the caller's (`not_found`)."
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": _ERROR_REF}}})
            operation["responses"] = dict(sorted(responses.items()))
    return result


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Request bodies of the strict serializers say `additionalProperties: false`: unknown keys are refused."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


def schema_view() -> Callable[..., HttpResponse]:
    """GET /api/schema/: YAML (`application/vnd.oai.openapi`) or JSON (`?format=json`, or Accept
    `application/vnd.oai.openapi+json`); its refusals in the API's JSON error body, like every other view.
    (Imported here, not at the top: see the note on BoundedJSONParser.)"""
    from drf_spectacular.views import SpectacularAPIView
    from rest_framework.renderers import JSONRenderer

    class SchemaApi(SpectacularAPIView):
        def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
            if response.status_code >= 400:
                request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
            return super().finalize_response(request, response, *args, **kwargs)

    return SchemaApi.as_view()
