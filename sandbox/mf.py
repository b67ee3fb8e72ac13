"""Mutual fund routes' services and selectors (`/mf/...`): instruments, holdings, orders and SIPs as
Kite shows them (kiteconnect-mocks `mf_*.json`), and placing, cancelling and changing them under
the user's book lock. Allotment and SIP instalments happen as the clock moves (`sandbox.engine.mf`).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox import accounting as acc
from sandbox.clock import book_day, kite_timestamp
from sandbox.engine.book import locked_book
from sandbox.engine.mf import (
    ACTIVE,
    FREQUENCIES,
    OPEN,
    PAUSED,
    SIP_CANCELLED,
    SIP_COMPLETED,
    UNITS,
    mf_order_cancel_in_book,
    mf_order_place_in_book,
    sip_first_instalment,
)
from sandbox.engine.scheduler import book_advance
from sandbox.engine.spec import Form
from sandbox.errors import InputError
from sandbox.funds import CSV_HEADER, Scheme, instruments_rows, latest_nav, scheme_by_isin
from sandbox.models import MFHolding, MFOrder, MFSip, PaperUser

ORDER_DAYS = 7  # `GET /mf/orders` lists the last seven days' orders (older ones by id)
MAX_AMOUNT = Decimal("1e9")


# --- reading ----------------------------------------------------------------------------------------------

def mf_instruments_csv(*, now: dt.datetime) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(instruments_rows(book_day(now)))
    return out.getvalue().encode()


def _number(value: Decimal, places: str = "0.0001") -> float:
    return float(Decimal(value).quantize(Decimal(places)))


def _nav(isin: str, now: dt.datetime) -> tuple[float, str]:
    scheme = scheme_by_isin(isin)
    if scheme is None:
        return 0.0, ""
    nav, day = latest_nav(scheme, book_day(now))
    return float(nav), day.isoformat()


def mf_order_payload(order: MFOrder, user: PaperUser, now: dt.datetime) -> dict[str, Any]:
    scheme = scheme_by_isin(order.tradingsymbol)
    last_price, last_date = _nav(order.tradingsymbol, now)
    return {
        "status": order.status, "purchase_type": order.purchase_type or None, "folio": order.folio or None,
        "order_timestamp": kite_timestamp(order.order_timestamp), "average_price": _number(order.average_price),
        "exchange_order_id": order.exchange_order_id or None, "last_price": last_price,
        "tradingsymbol": order.tradingsymbol, "settlement_id": order.settlement_id or None,
        "transaction_type": order.transaction_type, "order_id": order.order_id,
        "amount": acc.money(order.amount), "tag": order.tag or None, "placed_by": user.user_id,
        "exchange_timestamp": order.allotted_on.isoformat() if order.allotted_on else None,
        "variety": order.variety, "last_price_date": last_date, "status_message": order.status_message or None,
        "fund": scheme.name if scheme else order.tradingsymbol, "quantity": float(order.quantity),
    }


def mf_orders_list(*, user: PaperUser, now: dt.datetime) -> list[dict[str, Any]]:
    """The last seven days' MF orders and any still open, newest first."""
    since = now - dt.timedelta(days=ORDER_DAYS)
    orders = MFOrder.objects.filter(user=user, order_timestamp__gte=since) | MFOrder.objects.filter(
        user=user, status=OPEN)
    return [mf_order_payload(o, user, now) for o in orders.distinct()]


def mf_order_get(*, user: PaperUser, order_id: str, now: dt.datetime) -> dict[str, Any]:
    order = MFOrder.objects.filter(user=user, order_id=order_id).first()
    if order is None:
        raise InputError(f"Couldn't find that `order_id` ({order_id}).")
    return mf_order_payload(order, user, now)


def mf_holdings_list(*, user: PaperUser, now: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for h in MFHolding.objects.filter(user=user):
        scheme = scheme_by_isin(h.tradingsymbol)
        last_price, last_date = _nav(h.tradingsymbol, now)
        out.append({
            "folio": h.folio, "average_price": _number(h.average_price), "last_price": last_price,
            "last_price_date": last_date, "pledged_quantity": 0, "fund": scheme.name if scheme else h.tradingsymbol,
            "tradingsymbol": h.tradingsymbol,
            "pnl": acc.money((Decimal(str(last_price)) - h.average_price) * h.quantity),
            "quantity": float(h.quantity),
        })
    return out


def sip_payload(sip: MFSip, *, info: bool = False) -> dict[str, Any]:
    scheme = scheme_by_isin(sip.tradingsymbol)
    payload = {
        "status": sip.status, "sip_reg_num": None, "created": kite_timestamp(sip.created), "dividend_type": "growth",
        "instalment_amount": acc.money(sip.amount), "fund": scheme.name if scheme else sip.tradingsymbol,
        "instalments": sip.instalments, "next_instalment": sip.next_instalment.isoformat(),
        "transaction_type": "BUY", "trigger_price": 0, "step_up": {}, "tradingsymbol": sip.tradingsymbol,
        "tag": sip.tag or None, "frequency": sip.frequency, "last_instalment": kite_timestamp(sip.last_instalment),
        "pending_instalments": -1 if sip.instalments == -1 else sip.instalments - sip.completed_instalments,
        "instalment_day": sip.instalment_day, "sip_type": "sip", "completed_instalments": sip.completed_instalments,
        "sip_id": sip.sip_id,
    }
    if info:
        payload["fund_source"] = "pool"
    return payload


def mf_sips_list(*, user: PaperUser) -> list[dict[str, Any]]:
    return [sip_payload(s) for s in MFSip.objects.filter(user=user).exclude(status=SIP_CANCELLED)]


def _find_sip(user: PaperUser, sip_id: str) -> MFSip:
    sip = MFSip.objects.filter(user=user, sip_id=sip_id).first()
    if sip is None:
        raise InputError(f"Couldn't find that `sip_id` ({sip_id}).")
    return sip


def mf_sip_get(*, user: PaperUser, sip_id: str) -> dict[str, Any]:
    return sip_payload(_find_sip(user, sip_id), info=True)


# --- parsing ----------------------------------------------------------------------------------------------

def _scheme(params: Form) -> Scheme:
    raw = str(params.get("tradingsymbol") or "").strip()
    if not raw:
        raise InputError("Missing `tradingsymbol`.")
    scheme = scheme_by_isin(raw)
    if scheme is None:
        raise InputError(f"Invalid `tradingsymbol` {raw!r}: not a fund the sandbox offers (see /mf/instruments).")
    return scheme


def _decimal(params: Form, name: str, *, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            raise InputError(f"Missing `{name}`.")
        return None
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise InputError(f"Invalid `{name}` {raw!r}: expected a number.") from None
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise InputError(f"Invalid `{name}` {raw!r}: it must be above 0.")
    return value


def _int(params: Form, name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        if default is None:
            raise InputError(f"Missing `{name}`.")
        return default
    try:
        return int(str(raw).strip())
    except ValueError:
        raise InputError(f"Invalid `{name}` {raw!r}: expected a whole number.") from None


def _tag(params: Form) -> str:
    tag = params.get("tag")
    if tag in (None, ""):
        return ""
    tag = str(tag)
    if len(tag) > 20:
        raise InputError("Invalid `tag`: at most 20 characters.")
    return tag


def _purchase_amount(scheme: Scheme, amount: Decimal, user: PaperUser, name: str = "amount") -> Decimal:
    held = MFHolding.objects.filter(user=user, tradingsymbol=scheme.isin).exists()
    minimum = scheme.minimum_additional if held else scheme.minimum_purchase
    if amount < minimum:
        raise InputError(f"Invalid `{name}`: the minimum {'additional ' if held else ''}purchase amount for "
                         f"{scheme.name} is {minimum:.2f}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise InputError(f"Invalid `{name}`: an amount in rupees and paise.")
    return amount


def _frequency(raw: Any) -> str:
    frequency = str(raw or "").strip().lower()
    if frequency not in FREQUENCIES:
        raise InputError(f"Invalid `frequency` {raw!r}: use weekly, monthly or quarterly.")
    return frequency


def _instalment_day(params: Form, frequency: str, today: dt.date, current: int | None = None) -> int:
    if frequency == "weekly":
        return 0  # a week from the day it starts, as Kite shows weekly SIPs
    day = _int(params, "instalment_day", default=current or min(today.day, 28))
    if not 1 <= day <= 28:
        raise InputError(f"Invalid `instalment_day` {day}: a day of the month from 1 to 28.")
    return day


def _instalments(params: Form, default: int | None = None) -> int:
    instalments = _int(params, "instalments", default)
    if instalments != -1 and instalments < 1:
        raise InputError(f"Invalid `instalments` {instalments}: -1 (until cancelled) or at least 1.")
    return instalments


# --- writing ----------------------------------------------------------------------------------------------

def mf_order_place(*, user: PaperUser, params: Form, now: dt.datetime) -> str:
    """Place an MF order: a BUY by `amount`, a SELL by `quantity` (units); returns its order_id."""
    scheme = _scheme(params)
    side = str(params.get("transaction_type") or "").strip().upper()
    if side not in ("BUY", "SELL"):
        raise InputError(f"Invalid `transaction_type` {params.get('transaction_type')!r}: use BUY or SELL.")
    tag = _tag(params)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        if side == "BUY":
            amount = _purchase_amount(scheme, _decimal(params, "amount"), book.user)
            order = mf_order_place_in_book(book, scheme=scheme, transaction_type="BUY", amount=amount, tag=tag,
                                           now=now)
        else:
            quantity = _decimal(params, "quantity")
            if quantity != quantity.quantize(UNITS):
                raise InputError("Invalid `quantity`: units to the thousandth (0.001).")
            order = mf_order_place_in_book(book, scheme=scheme, transaction_type="SELL", quantity=quantity, tag=tag,
                                           now=now)
        return order.order_id


def mf_order_cancel(*, user: PaperUser, order_id: str, now: dt.datetime) -> str:
    with locked_book(user.pk) as book:
        book_advance(book, now)
        return mf_order_cancel_in_book(book, order_id=order_id).order_id


def mf_sip_place(*, user: PaperUser, params: Form, now: dt.datetime) -> str:
    """Start a SIP; with `initial_amount`, a first BUY of that amount is placed at once."""
    scheme = _scheme(params)
    today = book_day(now)
    frequency = _frequency(params.get("frequency"))
    instalment_day = _instalment_day(params, frequency, today)
    instalments = _instalments(params)
    tag = _tag(params)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        amount = _purchase_amount(scheme, _decimal(params, "amount"), book.user)
        initial = _decimal(params, "initial_amount", required=False)
        sip = MFSip.objects.create(
            user=book.user, sip_id=f"{secrets.randbelow(9 * 10**14) + 10**14}", tradingsymbol=scheme.isin,
            amount=amount, instalments=instalments, frequency=frequency, instalment_day=instalment_day, status=ACTIVE,
            tag=tag, created=now, last_instalment=now,
            next_instalment=sip_first_instalment(frequency, instalment_day, today))
        if initial is not None:
            initial = _purchase_amount(scheme, initial, book.user, "initial_amount")
            mf_order_place_in_book(book, scheme=scheme, transaction_type="BUY", amount=initial, tag=tag, now=now,
                                   sip=sip)
        return sip.sip_id


def mf_sip_modify(*, user: PaperUser, sip_id: str, params: Form, now: dt.datetime) -> str:
    """Change a SIP's amount, status (active/paused), instalments, frequency or day; what `params`
    leaves out stays. A new frequency or day moves the next instalment to its next date."""
    today = book_day(now)
    with locked_book(user.pk) as book:
        book_advance(book, now)  # instalments due before the change are placed first
        sip = _find_sip(book.user, sip_id)
        if sip.status in (SIP_CANCELLED, SIP_COMPLETED):
            raise InputError(f"The SIP cannot be modified as it is already {sip.status.lower()}.")
        if params.get("amount") not in (None, ""):
            sip.amount = _purchase_amount(scheme_by_isin(sip.tradingsymbol) or _scheme(params),
                                          _decimal(params, "amount"), book.user)
        if params.get("status") not in (None, ""):
            status = str(params.get("status")).strip().upper()
            if status not in (ACTIVE, PAUSED):
                raise InputError(f"Invalid `status` {params.get('status')!r}: use active or paused.")
            sip.status = status
        if params.get("instalments") not in (None, ""):
            sip.instalments = _instalments(params)
            if sip.instalments != -1 and sip.instalments <= sip.completed_instalments:
                raise InputError(f"Invalid `instalments` {sip.instalments}: {sip.completed_instalments} are "
                                 "already done.")
        frequency = _frequency(params.get("frequency")) if params.get("frequency") not in (None, "") else None
        if frequency or params.get("instalment_day") not in (None, ""):
            sip.frequency = frequency or sip.frequency
            sip.instalment_day = _instalment_day(params, sip.frequency, today, sip.instalment_day)
            sip.next_instalment = sip_first_instalment(sip.frequency, sip.instalment_day, today)
        sip.save()
        return sip.sip_id


def mf_sip_cancel(*, user: PaperUser, sip_id: str, now: dt.datetime) -> str:
    with locked_book(user.pk) as book:
        book_advance(book, now)
        sip = _find_sip(book.user, sip_id)
        if sip.status == SIP_CANCELLED:
            raise InputError("The SIP is already cancelled.")
        sip.status = SIP_CANCELLED
        sip.save(update_fields=["status"])
        return sip.sip_id
