"""Mutual funds inside the engine: orders placed, cancelled and allotted, and SIP instalments, all
on a book its caller has locked.

Money moves as on Coin: a BUY's amount leaves the cash when it is placed (and comes back if it is
cancelled); it is allotted at the NAV of the business day after the day it was placed, when that
day ends (`mf_end_of_day`, called by the scheduler's day rollover), and the units reach the
holdings then. A SELL takes its units out at allotment and credits the proceeds then. A SIP places
a BUY on each instalment date as the clock reaches it (`mf_day_begins`).
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import uuid
from decimal import ROUND_DOWN, Decimal

from sandbox import accounting as acc
from sandbox.accounting import ZERO
from sandbox.clock import at, book_day
from sandbox.engine.book import Book
from sandbox.engine.margins import margin_summary
from sandbox.errors import InputError, KiteError, MarginError
from sandbox.funds import Scheme, nav_on, next_business_day, scheme_by_isin
from sandbox.models import MFHolding, MFOrder, MFSip

OPEN, COMPLETE, CANCELLED, REJECTED = "OPEN", "COMPLETE", "CANCELLED", "REJECTED"
ACTIVE, PAUSED, SIP_CANCELLED, SIP_COMPLETED = "ACTIVE", "PAUSED", "CANCELLED", "COMPLETED"
FREQUENCIES = ("weekly", "monthly", "quarterly")
UNITS = Decimal("0.001")
PAISA = Decimal("0.01")
SIP_NO_FUNDS = "SIP: Insufficient balance."  # as Kite's order book shows a SIP instalment it could not fund


def units_for(amount: Decimal, nav: Decimal) -> Decimal:
    """Units allotted for `amount` at `nav`, to the thousandth of a unit (the rest stays with the fund)."""
    return (amount / nav).quantize(UNITS, rounding=ROUND_DOWN)


def _add_months(day: dt.date, months: int, day_of_month: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def sip_first_instalment(frequency: str, instalment_day: int, today: dt.date) -> dt.date:
    """The first instalment date after `today`: a week later, or the next `instalment_day` of a month."""
    if frequency == "weekly":
        return today + dt.timedelta(days=7)
    this_month = _add_months(today, 0, instalment_day)
    return this_month if this_month > today else _add_months(today, 1, instalment_day)


def sip_following_instalment(frequency: str, instalment_day: int, previous: dt.date) -> dt.date:
    """The instalment date after `previous`: a week, a month or three months on."""
    if frequency == "weekly":
        return previous + dt.timedelta(days=7)
    return _add_months(previous, 1 if frequency == "monthly" else 3, instalment_day)


def _folio(book: Book, scheme: Scheme) -> str:
    digest = hashlib.blake2b(f"{book.user.user_id}|{scheme.amc}".encode(), digest_size=8).digest()
    return f"{int.from_bytes(digest, 'big') % 10**10:010d}"


def mf_reserved_units(book: Book, isin: str) -> Decimal:
    """Units of `isin` open SELL orders already claim."""
    return sum((o.quantity for o in MFOrder.objects.filter(user=book.user, tradingsymbol=isin, status=OPEN,
                                                              transaction_type="SELL")), ZERO)


def mf_order_place_in_book(book: Book, *, scheme: Scheme, transaction_type: str, now: dt.datetime,
                           amount: Decimal = ZERO, quantity: Decimal = ZERO, tag: str = "",
                           sip: MFSip | None = None) -> MFOrder:
    """Place an MF order. A BUY debits its amount now (a regular one the funds do not cover raises
    MarginError; a SIP instalment is REJECTED, as Kite's order book shows it); a SELL needs the units."""
    holding = MFHolding.objects.filter(user=book.user, tradingsymbol=scheme.isin).first()
    order = MFOrder(user=book.user, order_id=str(uuid.uuid4()), tradingsymbol=scheme.isin,
                    transaction_type=transaction_type, variety="sip" if sip else "regular", tag=tag, sip=sip,
                    order_timestamp=now, allot_on=next_business_day(book_day(now)), status=OPEN)
    if transaction_type == "BUY":
        order.amount = amount
        order.purchase_type = "ADDITIONAL" if holding and holding.quantity else "FRESH"
        available = margin_summary(book, now).net
        if amount > available:
            if sip is None:
                raise MarginError(f"Insufficient funds. Required amount is {acc.money(amount):.2f} but available "
                                  f"margin is {acc.money(available):.2f}.")
            order.status, order.status_message = REJECTED, SIP_NO_FUNDS
        else:
            book.user.opening_balance -= amount
    else:
        free = (holding.quantity if holding else ZERO) - mf_reserved_units(book, scheme.isin)
        if quantity > free:
            raise KiteError(f"Insufficient holdings. Available quantity to redeem is {max(free, ZERO)} but the "
                            f"order quantity is {quantity}.", error_type="HoldingException")
        order.quantity = quantity
    order.save()
    return order


def mf_order_cancel_in_book(book: Book, *, order_id: str) -> MFOrder:
    """Cancel an order not yet allotted; a BUY's amount goes back to the cash."""
    order = MFOrder.objects.filter(user=book.user, order_id=order_id).first()
    if order is None:
        raise InputError(f"Couldn't find that `order_id` ({order_id}).")
    if order.status != OPEN:
        raise InputError(f"Order cannot be cancelled as it is already {order.status.lower()}.")
    if order.transaction_type == "BUY":
        book.user.opening_balance += order.amount
    order.status = CANCELLED
    order.save(update_fields=["status"])
    return order


def _allot(book: Book, order: MFOrder, scheme: Scheme, day: dt.date) -> None:
    nav = nav_on(scheme, order.allot_on)
    holding, _ = MFHolding.objects.get_or_create(user=book.user, tradingsymbol=scheme.isin,
                                                 defaults={"folio": _folio(book, scheme)})
    if order.transaction_type == "BUY":
        units = units_for(order.amount, nav)
        total = holding.quantity + units
        holding.average_price = (holding.average_price * holding.quantity + nav * units) / total if total else nav
        holding.quantity = total
        order.quantity = units
    else:
        units = min(order.quantity, holding.quantity)
        proceeds = (units * nav).quantize(PAISA, rounding=ROUND_DOWN)
        book.user.opening_balance += proceeds
        holding.quantity -= units
        order.quantity, order.amount = units, proceeds
    if holding.quantity:
        holding.save()
    else:
        holding.delete()
    order.status, order.average_price, order.folio, order.allotted_on = COMPLETE, nav, holding.folio, day
    order.exchange_order_id = f"{order.pk:09d}"
    order.settlement_id = f"{order.allot_on:%y%m%d}"
    order.save()


def mf_end_of_day(book: Book, day: dt.date) -> None:
    """`day` has ended: the orders due at its NAV are allotted."""
    for order in MFOrder.objects.filter(user=book.user, status=OPEN, allot_on__lte=day).order_by("order_timestamp",
                                                                                                  "id"):
        scheme = scheme_by_isin(order.tradingsymbol)
        if scheme is None:  # a scheme the sandbox no longer lists: nothing to allot at
            order.status, order.status_message = REJECTED, "The scheme is no longer available."
            order.save()
            continue
        _allot(book, order, scheme, day)


def mf_day_begins(book: Book, day: dt.date) -> None:
    """`day` has begun: SIP instalments due on it (or missed before it) are placed as MF orders; a
    paused SIP lets its dates pass without one."""
    for sip in MFSip.objects.filter(user=book.user, status__in=(ACTIVE, PAUSED), next_instalment__lte=day):
        scheme = scheme_by_isin(sip.tradingsymbol)
        while sip.status in (ACTIVE, PAUSED) and sip.next_instalment <= day:
            moment = at(sip.next_instalment, dt.time(0, 0))
            if sip.status == ACTIVE and scheme is not None:
                order = mf_order_place_in_book(book, scheme=scheme, transaction_type="BUY", now=moment,
                                               amount=sip.amount, tag=sip.tag, sip=sip)
                sip.last_instalment = moment
                if order.status != REJECTED:
                    sip.completed_instalments += 1
                if sip.instalments != -1 and sip.completed_instalments >= sip.instalments:
                    sip.status = SIP_COMPLETED
            sip.next_instalment = sip_following_instalment(sip.frequency, sip.instalment_day, sip.next_instalment)
        sip.save()
