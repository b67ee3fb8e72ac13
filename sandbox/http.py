"""How sandbox views read requests and answer: Kite's envelopes, auth header, form/JSON bodies,
rate limits. Views raise KiteError; `kite_endpoint` turns anything into an envelope, never a traceback."""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from sandbox import pricing
from sandbox.clock import clock_read
from sandbox.conf import rate_limits_enabled
from sandbox.engine.scheduler import book_sync
from sandbox.errors import BAD_SESSION, InputError, KiteError, RateLimited, TokenError, error_response, success_response
from sandbox.models import AccessToken, App, PaperUser
from sandbox.ratelimit import LIMITER
from sandbox.users import session_authenticate

log = logging.getLogger("sandbox")


@dataclass
class KiteRequest:
    request: HttpRequest
    now: dt.datetime
    params: Any
    session: AccessToken | None = None

    @property
    def app(self) -> App:
        assert self.session is not None
        return self.session.app

    @property
    def user(self) -> PaperUser:
        return self.app.user

    @property
    def client_ip(self) -> str:
        """The address the request came from (the sandbox serves loopback: no proxy headers)."""
        return self.request.META.get("REMOTE_ADDR", "")

    def json_array(self) -> list[dict[str, Any]]:
        """The JSON-array body of `/margins/*` and `/charges/orders`: a list of objects."""
        try:
            data = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"Malformed JSON body: {exc}.") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise InputError("The body must be a JSON array of orders.")
        if not data:
            raise InputError("The body must list at least one order.")
        return data


def _form_body(request: HttpRequest) -> Any:
    content_type = (request.content_type or "").lower()
    body = request.body
    if "json" in content_type:
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"Malformed JSON body: {exc}.") from None
        if isinstance(data, list):
            return {}  # the margin and charges routes' JSON arrays: read with `json_array`
        if not isinstance(data, dict):
            raise InputError("The JSON body must be an object.")
        return data
    try:
        if request.method == "POST":
            return request.POST  # urlencoded or multipart, as Django parses them
        return QueryDict(body, encoding=request.encoding or "utf-8")
    except (UnicodeDecodeError, MultiPartParserError) as exc:
        raise InputError(f"Malformed form body: {exc}.") from None


class Params:
    """Body parameters first, then the query string (Kite sends POST/PUT in the body)."""

    def __init__(self, body: Any, request: HttpRequest) -> None:
        self.body, self.request = body, request

    @property
    def query(self) -> QueryDict:
        return self.request.GET  # parsed on first use

    def query_list(self, name: str) -> list[str]:
        """Every value of a repeated query key, without Django's cap on the number of fields (a quote
        may carry 1000 instruments; the route, not the parser, says how many are too many)."""
        raw = self.request.META.get("QUERY_STRING", "")
        return [v for k, v in parse_qsl(raw, keep_blank_values=True) if k == name]

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.body:
            value = self.body[name] if not isinstance(self.body, QueryDict) else self.body.get(name)
            return value
        return self.query.get(name, default)

    def getlist(self, name: str) -> list:
        if isinstance(self.body, QueryDict) and name in self.body:
            return self.body.getlist(name)
        return self.query.getlist(name)


def request_params(request: HttpRequest) -> Params:
    body = _form_body(request) if request.method in ("POST", "PUT", "PATCH") else {}
    return Params(body, request)


def _api_key_from(request: HttpRequest) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "token" or ":" not in credentials:
        return "", ""
    api_key, _, token = credentials.strip().partition(":")
    return api_key, token


def _client_key(request: HttpRequest) -> str:
    api_key, _ = _api_key_from(request)
    return api_key or request.GET.get("api_key") or request.META.get("REMOTE_ADDR", "")


def _unexpected(exc: Exception) -> HttpResponse:
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent)):
        return error_response(f"The request is too large: {exc}", "InputException", 400)
    if isinstance(exc, SuspiciousOperation):
        return error_response(f"Bad request: {exc}", "InputException", 400)
    if isinstance(exc, DatabaseError):
        log.exception("sandbox database error")
        return error_response("The sandbox's database is busy or unavailable; try again.", "NetworkException", 503)
    log.exception("unexpected error in the sandbox")
    return error_response("Something went wrong in the sandbox (see its log).", "GeneralException", 500)


ORDERS = "orders"


def kite_endpoint(methods: dict[str, str], *, auth: bool = True, sync: bool = True) -> Callable:
    """A Kite API view. `methods` maps each allowed HTTP method to its rate-limit category.

    Most categories are counted per api_key before anything else; "orders" is counted per paper
    user once the session is known (Kite's 10 orders a second hold across the user's apps)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                category = methods.get(request.method or "")
                if category is None:
                    return error_response("Method not allowed", "GeneralException", 405)
                limited = rate_limits_enabled()
                if limited and category != ORDERS and not LIMITER.allow(_client_key(request), category):
                    raise RateLimited("Too many requests")
                reading = clock_read()
                pricing.shifts_sync(reading.shifts_version)
                kite = KiteRequest(request, reading.now, request_params(request))
                if auth:
                    api_key, token = _api_key_from(request)
                    if not token:
                        raise TokenError(BAD_SESSION)
                    kite.session = session_authenticate(api_key=api_key, access_token=token, now=reading.now)
                    if limited and category == ORDERS and not LIMITER.allow(f"user:{kite.user.pk}", ORDERS):
                        raise RateLimited("Too many requests")
                    if sync:
                        book_sync(kite.user, reading.now)
                result = view(kite, *args, **kwargs)
                return result if isinstance(result, HttpResponse) else success_response(result)
            except KiteError as exc:
                return exc.response()
            except Exception as exc:  # never a traceback to the client
                return _unexpected(exc)

        return wrapper

    return decorate


def control_endpoint(methods: tuple[str, ...]) -> Callable:
    """A sandbox control view (`/sandbox/...`): JSON in, Kite's envelope out, no auth, no rate limit."""

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    return error_response("Method not allowed", "GeneralException", 405)
                body: dict = {}
                if request.method == "POST":
                    if request.body.strip():
                        try:
                            body = json.loads(request.body)
                        except (ValueError, UnicodeDecodeError) as exc:
                            raise InputError(f"Malformed JSON body: {exc}.") from None
                    if not isinstance(body, dict):
                        raise InputError("The JSON body must be an object.")
                reading = clock_read()
                pricing.shifts_sync(reading.shifts_version)
                return success_response(view(request, body, reading.now, *args, **kwargs))
            except KiteError as exc:
                return exc.response()
            except Exception as exc:
                return _unexpected(exc)

        return wrapper

    return decorate
