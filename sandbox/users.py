"""Apps, paper users and sessions: the login side of the simulated Kite."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from sandbox import pricing
from sandbox.accounting import dec
from sandbox.clock import book_day, kite_timestamp, previous_trading_day, token_expiry
from sandbox.data import DEFAULT_HOLDINGS, DEFAULT_STARTING_CASH
from sandbox.errors import BAD_CHECKSUM, BAD_REQUEST_TOKEN, BAD_SESSION, InputError, PermissionDenied, TokenError
from sandbox.models import AccessToken, App, Holding, PaperUser, RequestToken
from sandbox.universe import instrument_by_key

ALPHANUMERIC = string.ascii_letters + string.digits
REQUEST_TOKEN_LIFETIME = dt.timedelta(minutes=5)
MAX_STARTING_CASH = Decimal("1e12")
EXCHANGES = ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD", "MF"]
PRODUCTS = ["CNC", "NRML", "MIS", "BO", "CO"]
ORDER_TYPES = ["MARKET", "LIMIT", "SL", "SL-M"]


def random_string(length: int) -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def default_redirect_url() -> str:
    base = (getattr(settings, "APP_BASE_URL", "") or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/kite/callback"


@dataclass(frozen=True)
class StartingHolding:
    instrument: str
    quantity: int
    average_price: Decimal | None = None


def default_holdings() -> list[StartingHolding]:
    return [StartingHolding(f"{exchange}:{symbol}", quantity) for exchange, symbol, quantity in DEFAULT_HOLDINGS]


def _past_price(inst, today: dt.date, salt: int) -> Decimal:
    """A price the stock really had a few months ago (so the portfolio shows gains and losses)."""
    day = today - dt.timedelta(days=90 + (salt * 37) % 200)
    return dec(pricing.closing_price(inst, previous_trading_day(day)))


def paper_user_create(*, now: dt.datetime, user_name: str = "", starting_cash: Decimal | None = None,
                      holdings: list[StartingHolding] | None = None) -> PaperUser:
    cash = dec(DEFAULT_STARTING_CASH) if starting_cash is None else starting_cash
    if not cash.is_finite() or cash < 0 or cash > MAX_STARTING_CASH:
        raise InputError("Invalid `starting_cash`: a number from 0 to 1000000000000.")
    today = book_day(now)
    rows = []
    seen: set[int] = set()
    for position, item in enumerate(default_holdings() if holdings is None else holdings):
        inst = instrument_by_key(item.instrument, today)
        if inst is None or inst.is_index or inst.is_derivative:
            raise InputError(f"Invalid holding {item.instrument!r}: a NIFTY 50 stock as EXCHANGE:SYMBOL, "
                             "e.g. NSE:INFY.")
        if inst.instrument_token in seen:
            raise InputError(f"Holding {item.instrument} is listed twice.")
        if not 0 < item.quantity <= 10_000_000:
            raise InputError(f"Invalid quantity for holding {item.instrument}: a whole number from 1 to 10000000.")
        average = item.average_price if item.average_price is not None else _past_price(inst, today, position)
        if not average.is_finite() or average <= 0:
            raise InputError(f"Invalid average_price for holding {item.instrument}: a price above 0.")
        seen.add(inst.instrument_token)
        rows.append((inst, item.quantity, average))
    name = (user_name or "Paper Trader").strip()[:100]
    for _ in range(20):
        user_id = "".join(secrets.choice(string.ascii_uppercase) for _ in range(2)) + f"{secrets.randbelow(10000):04d}"
        try:
            with transaction.atomic():
                user = PaperUser.objects.create(
                    user_id=user_id, user_name=name, user_shortname=name.split()[0] if name.split() else name,
                    email=f"{user_id.lower()}@paper.sandbox.invalid", opening_balance=cash, book_day=today,
                    synced_at=now)
        except IntegrityError:
            continue
        break
    else:  # pragma: no cover - 6.7 million ids
        raise InputError("Could not allocate a user id; try again.")
    Holding.objects.bulk_create(
        Holding(user=user, exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
                instrument_token=inst.instrument_token, isin=inst.isin, realised_quantity=quantity,
                opening_quantity=quantity, average_price=average)
        for inst, quantity, average in rows)
    return user


def allowed_ips_clean(raw: list[str]) -> list[str]:
    """The static IPs an app's orders must come from, as canonical addresses (at most a primary and
    a secondary on Kite; the sandbox takes up to ten, for tests)."""
    if len(raw) > 10:
        raise InputError("Invalid `allowed_ips`: at most 10 addresses.")
    out = []
    for item in raw:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError:
            raise InputError(f"Invalid `allowed_ips` entry {item!r}: an IPv4 or IPv6 address.") from None
    return out


def app_create(*, now: dt.datetime, redirect_url: str | None = None, user_name: str = "",
               starting_cash: Decimal | None = None, holdings: list[StartingHolding] | None = None,
               allowed_ips: list[str] | None = None, user_id: str | None = None) -> App:
    """A new Kite Connect app (api_key, api_secret) and the paper user it logs in as: a new one, or
    the existing `user_id` (one user, several apps: Kite's order limits are the user's)."""
    url = (redirect_url or default_redirect_url()).strip()
    if not (url.startswith("http://") or url.startswith("https://")) or len(url) > 500 or " " in url:
        raise InputError("Invalid `redirect_url`: an http:// or https:// URL.")
    ips = allowed_ips_clean(allowed_ips or [])
    with transaction.atomic():
        if user_id is not None:
            if user_name or starting_cash is not None or holdings is not None:
                raise InputError("With `user_id`, the app logs in an existing user: leave out user_name, "
                                 "starting_cash and holdings.")
            user = PaperUser.objects.filter(user_id=user_id).first()
            if user is None:
                raise InputError(f"Invalid `user_id` {user_id!r}: no such paper user.")
        else:
            user = paper_user_create(now=now, user_name=user_name, starting_cash=starting_cash, holdings=holdings)
        return App.objects.create(api_key=random_string(16).lower(), api_secret=random_string(32).lower(),
                                  redirect_url=url, user=user, allowed_ips=ips)


def order_ip_check(*, app: App, client_ip: str) -> None:
    """Kite accepts orders only from the app's registered static IPs (since 2026-04-01); reads
    come from anywhere. No IPs registered: any address (the sandbox's default)."""
    if app.allowed_ips and client_ip not in app.allowed_ips:
        raise PermissionDenied(f"Orders are accepted only from the static IP registered for this app "
                               f"({', '.join(app.allowed_ips)}); this request came from {client_ip or 'unknown'}.")


def app_by_key(api_key: str) -> App | None:
    if not api_key:
        return None
    return App.objects.select_related("user").filter(api_key=api_key).first()


def request_token_issue(*, app: App, now: dt.datetime) -> str:
    token = random_string(32)
    RequestToken.objects.create(token=token, app=app, created_at=now)
    return token


def checksum(api_key: str, token: str, api_secret: str) -> str:
    return hashlib.sha256((api_key + token + api_secret).encode()).hexdigest()


def session_create(*, api_key: str, request_token: str, checksum_hex: str, now: dt.datetime) -> dict:
    """Exchange a request token for an access token (POST /session/token)."""
    app = app_by_key(api_key)
    if app is None:
        raise TokenError(BAD_SESSION)
    token = RequestToken.objects.filter(token=request_token, app=app).first()
    if token is None or token.used_at is not None or not (
            token.created_at <= now < token.created_at + REQUEST_TOKEN_LIFETIME):
        raise TokenError(BAD_REQUEST_TOKEN)
    if not hmac.compare_digest(checksum(api_key, request_token, app.api_secret), checksum_hex.lower()):
        raise TokenError(BAD_CHECKSUM)
    # Single use, even against a concurrent exchange of the same token.
    if not RequestToken.objects.filter(pk=token.pk, used_at__isnull=True).update(used_at=now):
        raise TokenError(BAD_REQUEST_TOKEN)
    session = AccessToken.objects.create(token=random_string(32), public_token=random_string(32), app=app,
                                         login_time=now, expires_at=token_expiry(now))
    return session_payload(session, app.user)


def profile_payload(user: PaperUser) -> dict:
    return {
        "user_id": user.user_id,
        "user_type": "individual",
        "email": user.email,
        "user_name": user.user_name,
        "user_shortname": user.user_shortname,
        "broker": "ZERODHA",
        "exchanges": list(EXCHANGES),
        "products": list(PRODUCTS),
        "order_types": list(ORDER_TYPES),
        "avatar_url": None,
        "meta": {"demat_consent": "physical"},
    }


def session_payload(session: AccessToken, user: PaperUser) -> dict:
    payload = profile_payload(user)
    payload.update({
        "api_key": session.app.api_key,
        "access_token": session.token,
        "public_token": session.public_token,
        "enctoken": session.public_token,
        "refresh_token": "",
        "silo": "",
        "login_time": kite_timestamp(session.login_time),
    })
    return payload


def session_authenticate(*, api_key: str, access_token: str, now: dt.datetime) -> AccessToken:
    session = (AccessToken.objects.select_related("app__user").filter(token=access_token).first()
               if access_token else None)
    if (session is None or session.app.api_key != api_key or session.revoked_at is not None
            or session.expires_at <= now):
        raise TokenError(BAD_SESSION)
    return session


def session_invalidate(*, api_key: str, access_token: str, now: dt.datetime) -> bool:
    """DELETE /session/token: the token stops working at once."""
    AccessToken.objects.filter(token=access_token, app__api_key=api_key, revoked_at__isnull=True).update(
        revoked_at=now)
    return True
