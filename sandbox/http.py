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
from urllib.parse import unquote_plus

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DatabaseError
from django.db.models import Min
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from sandbox import pricing
from sandbox.clock import MIS_SQUARE_OFF, at, book_day, clock_read, is_trading_day
from sandbox.conf import market_always_open, rate_limits_enabled
from sandbox.engine.scheduler import book_sync
from sandbox.engine.spec import OPEN_STATUSES
from sandbox.errors import BAD_SESSION, InputError, KiteError, RateLimited, TokenError, error_response, success_response
from sandbox.models import AccessToken, App, Order, PaperUser
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
        out = []
        for part in raw.split("&"):  # parse_qsl's result, in one pass (a quote may carry 1000 keys)
            key, _, value = part.partition("=")
            if "%" in key or "+" in key:
                key = unquote_plus(key)
            if key == name:
                out.append(unquote_plus(value) if "%" in value or "+" in value else value)
        return out

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


def _minute(moment: dt.datetime) -> int:
    return int(moment.timestamp() // 60)


def read_sync_due(user: PaperUser, now: dt.datetime) -> bool:
    """Whether a read must first bring the user's books up to `now` (`book_sync`, which locks and
    loads the whole book), checked from the user row alone (plus one small query at most).

    Something can have happened since the books were last brought up to date only when a new day
    began, the square-off is due, or, with orders or GTT triggers waiting, the clock reached a new
    minute mark (prices, and so fills, triggers and every session event, move on minute marks) or
    an order's TTL validity lapsed. Within the same minute a second evaluation meets the same prices
    and the same book, so it is skipped: reads do not lock."""
    day = book_day(now)
    if user.book_day < day:
        return True
    if (not market_always_open() and is_trading_day(day) and now >= at(day, MIS_SQUARE_OFF)
            and user.closed_day != day):
        return True
    if not (user.open_orders or user.active_gtts) or now == user.synced_at:
        return False
    if now < user.synced_at or _minute(now) != _minute(user.synced_at):
        return True
    if not user.open_orders:
        return False
    lapse = _next_lapse(user)
    return lapse is not None and lapse <= now


_LAPSES: dict[tuple, dt.datetime | None] = {}


def _next_lapse(user: PaperUser) -> dt.datetime | None:
    """The first TTL expiry among the user's open orders after their last sync (None: none).

    Remembered per (user, last sync, open order count): open orders change only under a sync at
    the write's instant, which moves `synced_at` (or, at that same instant, the count); so a
    remembered answer is never stale, and reads within a minute ask the database once."""
    key = (user.pk, user.synced_at, user.open_orders)
    if key not in _LAPSES:
        if len(_LAPSES) > 4096:
            _LAPSES.clear()
        _LAPSES[key] = Order.objects.filter(user=user, status__in=OPEN_STATUSES, expires_at__gt=user.synced_at
                                            ).aggregate(first=Min("expires_at"))["first"]
    return _LAPSES[key]


def _encoded(result: Any) -> HttpResponse | None:
    body = getattr(result, "encoded_body", None)
    return HttpResponse(body, content_type="application/json") if body is not None else None


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
                    if sync and (request.method != "GET" or read_sync_due(kite.user, reading.now)):
                        book_sync(kite.user, reading.now)
                result = view(kite, *args, **kwargs)
                if isinstance(result, HttpResponse):
                    return result
                return _encoded(result) or success_response(result)
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
