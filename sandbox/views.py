"""Kite Connect v3 routes, the login page, and the sandbox's own control routes (`/sandbox/...`)."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from sandbox import events, gtt, mf, postbacks, pricing, selectors, users
from sandbox.clock import IST, clock_read, clock_set
from sandbox.engine.convert import position_convert
from sandbox.engine.margins import trigger_range_payload
from sandbox.engine.scheduler import book_sync, books_sync_open
from sandbox.engine.services import order_cancel, order_modify, order_place_answer
from sandbox.errors import InputError, PermissionDenied, error_response
from sandbox.http import KiteRequest, control_endpoint, kite_endpoint, read_sync_due
from sandbox.models import PriceShift, SandboxState
from sandbox.universe import instrument_by_key

GET, OTHERS = {"GET": "others"}, "others"


# --- session -----------------------------------------------------------------------------------------

@kite_endpoint({"POST": OTHERS, "DELETE": OTHERS}, auth=False)
def session_token(kite: KiteRequest) -> Any:
    p = kite.params
    if kite.request.method == "DELETE":
        api_key = p.get("api_key") or ""
        if not api_key:
            raise InputError("Missing `api_key`.")
        if p.get("access_token"):
            return users.session_invalidate(api_key=api_key, access_token=p.get("access_token"), now=kite.now)
        if p.get("refresh_token") is not None:
            return True  # the sandbox issues no refresh tokens
        raise InputError("Missing `access_token`.")
    for name in ("api_key", "request_token", "checksum"):
        if not p.get(name):
            raise InputError(f"Missing `{name}`.")
    return users.session_create(api_key=str(p.get("api_key")), request_token=str(p.get("request_token")),
                                checksum_hex=str(p.get("checksum")), now=kite.now)


@kite_endpoint(GET)
def profile(kite: KiteRequest) -> Any:
    return users.profile_payload(kite.user)


@kite_endpoint(GET)
def margins(kite: KiteRequest, segment: str | None = None) -> Any:
    return selectors.margins_payload(user=kite.user, now=kite.now, segment=segment)


# --- portfolio ---------------------------------------------------------------------------------------------

@kite_endpoint(GET)
def holdings(kite: KiteRequest) -> Any:
    return selectors.holdings_list(user=kite.user, now=kite.now)


@kite_endpoint(GET, sync=False)
def auctions(kite: KiteRequest) -> Any:
    return []


@kite_endpoint({"GET": OTHERS, "PUT": OTHERS})
def positions(kite: KiteRequest) -> Any:
    if kite.request.method == "PUT":
        return position_convert(user=kite.user, params=kite.params, now=kite.now)
    return selectors.positions_payload(user=kite.user, now=kite.now)


# --- orders ------------------------------------------------------------------------------------------------

@kite_endpoint(GET)
def orders(kite: KiteRequest) -> Any:
    return selectors.orders_list(user=kite.user, now=kite.now)


@kite_endpoint({"GET": OTHERS, "POST": "orders"}, sync=False)
def order_place_or_history(kite: KiteRequest, name: str) -> Any:
    if kite.request.method == "POST":
        users.order_ip_check(app=kite.app, client_ip=kite.client_ip)
        return order_place_answer(user=kite.user, variety=name, params=kite.params, now=kite.now, app_id=kite.app.pk)
    if read_sync_due(kite.user, kite.now):  # a read locks the book only when something is due
        book_sync(kite.user, kite.now)
    return selectors.order_history(user=kite.user, order_id=name)


@kite_endpoint({"GET": OTHERS, "PUT": "orders", "DELETE": "orders"}, sync=False)
def order_modify_cancel_or_trades(kite: KiteRequest, first: str, second: str) -> Any:
    method = kite.request.method
    if method == "GET":
        if second != "trades":
            return error_response("Route not found", "GeneralException", 404)
        if read_sync_due(kite.user, kite.now):
            book_sync(kite.user, kite.now)
        return selectors.order_trades(user=kite.user, order_id=first)
    users.order_ip_check(app=kite.app, client_ip=kite.client_ip)
    if method == "PUT":
        return {"order_id": order_modify(user=kite.user, variety=first, order_id=second, params=kite.params,
                                         now=kite.now)}
    parent = kite.params.get("parent_order_id")
    return {"order_id": order_cancel(user=kite.user, variety=first, order_id=second, now=kite.now,
                                     parent_order_id=str(parent).strip() if parent not in (None, "") else None)}


@kite_endpoint(GET)
def trades(kite: KiteRequest) -> Any:
    return selectors.trades_list(user=kite.user, now=kite.now)


# --- GTT -------------------------------------------------------------------------------------------------------
# Placed, modified and deleted at any hour (they wait for the price); not counted as orders or held to
# the static IP: Kite's 2026 notice names order placement, modification and cancellation only.

@kite_endpoint({"GET": OTHERS, "POST": OTHERS})
def gtt_triggers(kite: KiteRequest) -> Any:
    if kite.request.method == "POST":
        return {"trigger_id": gtt.gtt_place(user=kite.user, app=kite.app, params=kite.params, now=kite.now)}
    return gtt.gtt_list(user=kite.user)


@kite_endpoint({"GET": OTHERS, "PUT": OTHERS, "DELETE": OTHERS})
def gtt_trigger(kite: KiteRequest, trigger_id: str) -> Any:
    method = kite.request.method
    if method == "GET":
        return gtt.gtt_get(user=kite.user, trigger_id=trigger_id)
    if method == "PUT":
        return {"trigger_id": gtt.gtt_modify(user=kite.user, trigger_id=trigger_id, params=kite.params,
                                             now=kite.now)}
    return {"trigger_id": gtt.gtt_delete(user=kite.user, trigger_id=trigger_id, now=kite.now)}


# --- mutual funds ----------------------------------------------------------------------------------------------

@kite_endpoint(GET, auth=False)
def mf_instruments(kite: KiteRequest) -> Any:
    return HttpResponse(mf.mf_instruments_csv(now=kite.now), content_type="text/csv")


@kite_endpoint(GET)
def mf_holdings(kite: KiteRequest) -> Any:
    return mf.mf_holdings_list(user=kite.user, now=kite.now)


@kite_endpoint({"GET": OTHERS, "POST": OTHERS})
def mf_orders(kite: KiteRequest) -> Any:
    if kite.request.method == "POST":
        return {"order_id": mf.mf_order_place(user=kite.user, params=kite.params, now=kite.now)}
    return mf.mf_orders_list(user=kite.user, now=kite.now)


@kite_endpoint({"GET": OTHERS, "DELETE": OTHERS})
def mf_order(kite: KiteRequest, order_id: str) -> Any:
    if kite.request.method == "DELETE":
        return {"order_id": mf.mf_order_cancel(user=kite.user, order_id=order_id, now=kite.now)}
    return mf.mf_order_get(user=kite.user, order_id=order_id, now=kite.now)


@kite_endpoint({"GET": OTHERS, "POST": OTHERS})
def mf_sips(kite: KiteRequest) -> Any:
    if kite.request.method == "POST":
        return {"sip_id": mf.mf_sip_place(user=kite.user, params=kite.params, now=kite.now)}
    return mf.mf_sips_list(user=kite.user)


@kite_endpoint({"GET": OTHERS, "PUT": OTHERS, "DELETE": OTHERS})
def mf_sip(kite: KiteRequest, sip_id: str) -> Any:
    method = kite.request.method
    if method == "GET":
        return mf.mf_sip_get(user=kite.user, sip_id=sip_id)
    if method == "PUT":
        return {"sip_id": mf.mf_sip_modify(user=kite.user, sip_id=sip_id, params=kite.params, now=kite.now)}
    return {"sip_id": mf.mf_sip_cancel(user=kite.user, sip_id=sip_id, now=kite.now)}


# --- margin calculator and charges (JSON-array bodies) ------------------------------------------------------

def _compact(kite: KiteRequest) -> bool:
    mode = (kite.params.query.get("mode") or "").strip().lower()
    if mode not in ("", "compact"):
        raise InputError(f"Invalid `mode` {mode!r}: use compact or leave it out.")
    return mode == "compact"


@kite_endpoint({"POST": OTHERS})
def margins_orders(kite: KiteRequest) -> Any:
    return selectors.order_margins_payload(orders=kite.json_array(), now=kite.now, compact=_compact(kite))


@kite_endpoint({"POST": OTHERS})
def margins_basket(kite: KiteRequest) -> Any:
    raw = (kite.params.query.get("consider_positions") or "true").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise InputError(f"Invalid `consider_positions` {raw!r}: use true or false.")
    return selectors.basket_margins_payload(user=kite.user, orders=kite.json_array(), now=kite.now,
                                            consider_positions=raw in ("true", "1"), compact=_compact(kite))


@kite_endpoint({"POST": OTHERS})
def charges_orders(kite: KiteRequest) -> Any:
    return selectors.contract_note_payload(orders=kite.json_array(), now=kite.now)


# --- market data ----------------------------------------------------------------------------------------------

@kite_endpoint({"GET": "quote"}, sync=False)
def quote(kite: KiteRequest) -> Any:
    return selectors.quote_payload(keys=kite.params.query_list("i"), now=kite.now)


@kite_endpoint({"GET": "quote"}, sync=False)
def quote_ohlc(kite: KiteRequest) -> Any:
    return selectors.ohlc_payload(keys=kite.params.query_list("i"), now=kite.now)


@kite_endpoint({"GET": "quote"}, sync=False)
def quote_ltp(kite: KiteRequest) -> Any:
    return selectors.ltp_payload(keys=kite.params.query_list("i"), now=kite.now)


@kite_endpoint({"GET": "quote"}, sync=False)
def trigger_range(kite: KiteRequest, transaction_type: str) -> Any:
    return trigger_range_payload(transaction_type=transaction_type, keys=kite.params.query_list("i"), now=kite.now)


@kite_endpoint(GET, auth=False)
def instruments(kite: KiteRequest, exchange: str | None = None) -> Any:
    return HttpResponse(selectors.instruments_csv(exchange=exchange, now=kite.now), content_type="text/csv")


@kite_endpoint({"GET": "historical"}, sync=False)
def historical(kite: KiteRequest, instrument_token: str, interval: str) -> Any:
    return selectors.historical_candles(instrument_token=instrument_token, interval=interval, params=kite.params,
                                        now=kite.now)


@kite_endpoint({"GET": OTHERS, "POST": OTHERS, "PUT": OTHERS, "DELETE": OTHERS}, auth=False)
def unavailable(kite: KiteRequest, *args: Any, **kwargs: Any) -> Any:
    raise PermissionDenied(f"{kite.request.path} is a Kite Connect route the sandbox does not offer.")


# --- login ------------------------------------------------------------------------------------------------------

def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    response.sandbox_page = True  # a deliberate HTML answer: the WSGI handler leaves it alone
    return response


def _login_error(request: HttpRequest, message: str) -> HttpResponse:
    return _page(request, "sandbox/error.html", {"message": message}, status=400)


@csrf_exempt
def connect_login(request: HttpRequest) -> HttpResponse:
    """Kite's login page: one form; submitting it redirects to the app with a request_token."""
    try:
        data = request.POST if request.method == "POST" else request.GET
        api_key = (data.get("api_key") or "").strip()
        app = users.app_by_key(api_key)
        if request.method not in ("GET", "POST"):
            return _login_error(request, "This page only answers GET and POST.")
        if app is None:
            return _login_error(request, "Invalid `api_key`: no sandbox app has this key. Create one with "
                                         "`python manage.py sandboxapp`." if api_key else "Missing `api_key`.")
        redirect_params = data.get("redirect_params") or ""
        if request.method == "GET":
            return _page(request, "sandbox/login.html",
                         {"app": app, "user": app.user, "redirect_params": redirect_params})
        if data.get("user_id") not in (None, app.user.user_id):
            return _login_error(request, "That paper user does not belong to this app.")
        now = clock_read().now
        token = users.request_token_issue(app=app, now=now)
        parts = urlsplit(app.redirect_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [("action", "login"), ("type", "login"), ("status", "success"), ("request_token", token)]
        query += parse_qsl(redirect_params, keep_blank_values=True)
        return HttpResponseRedirect(urlunsplit(parts._replace(query=urlencode(query))))
    except Exception:  # a page, not a traceback
        import logging

        logging.getLogger("sandbox").exception("login page failed")
        return _login_error(request, "The sandbox could not complete the login; see its log.")


# --- sandbox control --------------------------------------------------------------------------------------------

def _only(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}.")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"Invalid `{name}`: expected a number.")
    return float(value)


def _holdings(raw: Any) -> list[users.StartingHolding] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InputError("Invalid `holdings`: a list of {\"instrument\", \"quantity\", \"average_price\"?}.")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("instrument"), str):
            raise InputError("Invalid `holdings` item: {\"instrument\": \"NSE:INFY\", \"quantity\": 10}.")
        _only(item, {"instrument", "quantity", "average_price"})
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise InputError(f"Invalid quantity for holding {item['instrument']}: a whole number.")
        average = item.get("average_price")
        out.append(users.StartingHolding(item["instrument"].strip().upper(), quantity,
                                         None if average is None else Decimal(str(_number(average, "average_price")))))
    return out


@control_endpoint(("POST",))
def sandbox_apps(request: HttpRequest, body: dict, now: dt.datetime) -> Any:
    _only(body, {"redirect_url", "user_name", "starting_cash", "holdings", "allowed_ips", "user_id", "postback_url"})
    postback_url = postbacks.postback_url_clean(body.get("postback_url"))
    redirect_url = body.get("redirect_url")
    if redirect_url is not None and not isinstance(redirect_url, str):
        raise InputError("Invalid `redirect_url`: an http:// or https:// URL.")
    user_name = body.get("user_name") or ""
    if not isinstance(user_name, str):
        raise InputError("Invalid `user_name`: a string.")
    cash = body.get("starting_cash")
    allowed_ips = body.get("allowed_ips")
    if allowed_ips is not None and (not isinstance(allowed_ips, list)
                                    or not all(isinstance(ip, str) for ip in allowed_ips)):
        raise InputError("Invalid `allowed_ips`: a list of IP addresses, e.g. [\"127.0.0.1\"].")
    user_id = body.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise InputError("Invalid `user_id`: the user_id of an existing paper user.")
    app = users.app_create(now=now, redirect_url=redirect_url, user_name=user_name,
                           starting_cash=None if cash is None else Decimal(str(_number(cash, "starting_cash"))),
                           holdings=_holdings(body.get("holdings")), allowed_ips=allowed_ips, user_id=user_id)
    postbacks.app_postback_url_set(app=app, url=postback_url)
    return {"api_key": app.api_key, "api_secret": app.api_secret, "user_id": app.user.user_id}


def _clock_payload() -> dict:
    reading = clock_read()
    return {"now": reading.now.isoformat(), "frozen": reading.frozen}


@control_endpoint(("GET", "POST"))
def sandbox_clock(request: HttpRequest, body: dict, now: dt.datetime) -> Any:
    if request.method == "GET":
        return _clock_payload()
    _only(body, {"now", "advance_seconds", "reset"})
    if len(body) != 1:
        raise InputError("Give exactly one of `now`, `advance_seconds` or `reset`.")
    if "now" in body:
        raw = body["now"]
        try:
            moment = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InputError("Invalid `now`: an ISO-8601 time with a UTC offset, e.g. 2025-01-15T11:00:00+05:30.")
        if not 2000 <= moment.year <= 2099:
            raise InputError("Invalid `now`: the sandbox clock runs from 2000 to 2099.")
        clock_set(now=moment.astimezone(IST))
    elif "advance_seconds" in body:
        seconds = _number(body["advance_seconds"], "advance_seconds")
        if abs(seconds) > 10 * 366 * 86400:
            raise InputError("Invalid `advance_seconds`: at most ten years either way.")
        clock_set(advance_seconds=seconds)
    else:
        if body["reset"] is not True:
            raise InputError("Invalid `reset`: send {\"reset\": true}.")
        clock_set(reset=True)
    events.prices_moved()  # every price is another now: the ticker looks again at once
    return _clock_payload()


@control_endpoint(("POST",))
def sandbox_prices(request: HttpRequest, body: dict, now: dt.datetime) -> Any:
    _only(body, {"instrument", "change_percent"})
    key = body.get("instrument")
    if not isinstance(key, str) or not key:
        raise InputError("Missing `instrument`: EXCHANGE:TRADINGSYMBOL, e.g. NSE:INFY.")
    inst = instrument_by_key(key.strip().upper(), now.date())
    if inst is None:
        raise InputError(f"Unknown instrument {key!r}.")
    if "change_percent" not in body:
        raise InputError("Missing `change_percent`.")
    change = _number(body["change_percent"], "change_percent")
    if not -99 <= change <= 1000:
        raise InputError("Invalid `change_percent`: from -99 to 1000.")
    with transaction.atomic():
        PriceShift.objects.create(instrument_token=inst.seed, at=now, factor=1 + change / 100)
        SandboxState.objects.get_or_create(pk=1)
        SandboxState.objects.filter(pk=1).update(shifts_version=F("shifts_version") + 1)
    pricing.shifts_sync(clock_read().shifts_version)
    books_sync_open(now)
    events.prices_moved(tokens=[inst.instrument_token])  # the ticker sends the new price at once
    return {"instrument": inst.key, "last_price": pricing.price_at(inst, now)}


# --- errors -----------------------------------------------------------------------------------------------------

@csrf_exempt
def route_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response("Route not found", "GeneralException", 404)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response("Bad request.", "InputException", 400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response("Forbidden.", "PermissionException", 403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response("Route not found", "GeneralException", 404)


def handler500(request: HttpRequest) -> HttpResponse:
    return error_response("Something went wrong in the sandbox (see its log).", "GeneralException", 500)
