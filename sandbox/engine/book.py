"""The unit of work: one paper user's open orders, positions and holdings, loaded once and written
back together.

All writes for one user happen under that user's row lock (and a process lock, which keeps
SQLite's single writer happy in the threaded server): `locked_book`. Code working on a book
changes its objects in memory, marks them (`touch`, `deleted`) and records the order history
(`snapshot`); `flush` writes it all at the end of the transaction.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import models, transaction

from sandbox.engine.payload import order_payload
from sandbox.engine.spec import OPEN_STATUSES
from sandbox.models import GTTTrigger, Holding, Order, OrderEvent, PaperUser, Position
from sandbox.universe import Instrument

_lock = threading.RLock()


class Book:
    def __init__(self, user: PaperUser) -> None:
        self.user = user
        self.orders: list[Order] = list(Order.objects.filter(user=user, status__in=OPEN_STATUSES))
        self.positions: dict[tuple[int, str], Position] = {
            (p.instrument_token, p.product): p for p in Position.objects.filter(user=user)}
        self.holdings: dict[int, Holding] = {h.instrument_token: h for h in Holding.objects.filter(user=user)}
        self.events: list[OrderEvent] = []
        self.gtts: list[GTTTrigger] | None = None  # loaded on first use: most books have none
        self.dirty: dict[int, models.Model] = {}
        self.deleted: list[models.Model] = []

    def touch(self, obj: models.Model) -> None:
        self.dirty[id(obj)] = obj

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders if o.status in OPEN_STATUSES]

    def active_gtts(self) -> list[GTTTrigger]:
        """The user's active GTT triggers (read once per unit of work)."""
        if self.gtts is None:
            self.gtts = (list(GTTTrigger.objects.filter(user=self.user, status="active").order_by("id"))
                         if self.user.active_gtts else [])
        return [g for g in self.gtts if g.status == "active"]

    def snapshot(self, order: Order, status: str | None = None) -> None:
        """Record the order as it reads now (or at an interim `status`) in its history."""
        self.events.append(OrderEvent(order=order, snapshot=order_payload(order, self.user, status=status)))

    def position(self, inst: Instrument, product: str) -> Position:
        """The day's position in `inst` for `product`, created (unsaved) when there is none."""
        key = (inst.instrument_token, product)
        pos = self.positions.get(key)
        if pos is None:
            pos = Position(user=self.user, exchange=inst.exchange, tradingsymbol=inst.tradingsymbol,
                           instrument_token=inst.instrument_token, product=product)
            self.positions[key] = pos
        return pos

    def flush(self) -> None:
        for obj in self.deleted:
            if obj.pk is not None:
                obj.delete()
        deleted = {id(o) for o in self.deleted}
        for key, obj in self.dirty.items():
            if key not in deleted:
                obj.save()
        OrderEvent.objects.bulk_create(self.events)
        self.user.open_orders = len(self.open_orders())
        if self.gtts is not None:
            self.user.active_gtts = len(self.active_gtts())
        self.user.save()
        self.events, self.dirty, self.deleted = [], {}, []


@contextmanager
def locked_book(user_pk: int) -> Iterator[Book]:
    """The user's book under lock, in one transaction; flushed when the block ends without error."""
    with _lock, transaction.atomic():
        user = PaperUser.objects.select_for_update().get(pk=user_pk)
        book = Book(user)
        yield book
        book.flush()


def read_book(user: PaperUser) -> Book:
    """The user's book for reading (no lock: nothing read from it is written back)."""
    return Book(user)
