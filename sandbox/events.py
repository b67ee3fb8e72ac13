"""The sandbox's live channel inside its one process: what the engine reports, and who hears it.

The engine calls `order_updated` where an order's status changes (`sandbox.engine.lifecycle`) and
`prices_moved` when prices jump; the update is taken as the order reads at that moment and
published once the unit of work commits (a rolled-back order reports nothing): to the app's
postback URLs (`sandbox.postbacks`, off the request thread) and to the listeners registered here
(the ticker's hub, `sandbox.ticker`, when one runs). Publishing never raises into the engine.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.db import transaction

from sandbox import postbacks
from sandbox.engine.payload import order_payload
from sandbox.engine.spec import OPEN, TRIGGER_PENDING
from sandbox.models import Order, PaperUser

log = logging.getLogger("sandbox.events")

OrderListener = Callable[[int, dict[str, Any]], None]  # (paper user pk, order update)
PriceListener = Callable[[frozenset[int] | None], None]  # tokens that moved (None: any may have)

_lock = threading.Lock()
_order_listeners: list[OrderListener] = []
_price_listeners: list[PriceListener] = []


def listeners_add(*, on_order: OrderListener, on_prices: PriceListener) -> None:
    with _lock:
        _order_listeners.append(on_order)
        _price_listeners.append(on_prices)


def listeners_remove(*, on_order: OrderListener, on_prices: PriceListener) -> None:
    with _lock:
        if on_order in _order_listeners:
            _order_listeners.remove(on_order)
        if on_prices in _price_listeners:
            _price_listeners.remove(on_prices)


def order_update_payload(order: Order, user: PaperUser, *, update: bool = False) -> dict[str, Any]:
    """The order as Kite reports an update of it: the order book's shape, with status UPDATE for an
    open order that was modified or partly filled (`update`)."""
    payload = order_payload(order, user)
    if update and payload["status"] in (OPEN, TRIGGER_PENDING):
        payload["status"] = "UPDATE"
    return payload


def order_updated(*, order: Order, user: PaperUser, update: bool = False) -> None:
    """Report `order` as it reads now, once the current transaction commits."""
    payload = order_update_payload(order, user, update=update)
    transaction.on_commit(partial(_publish_order, user.pk, order.app_id, payload), robust=True)


def prices_moved(*, tokens: Iterable[int] | None = None) -> None:
    """Prices jumped (`POST /sandbox/prices`, the clock set): listeners look again at once."""
    moved = None if tokens is None else frozenset(tokens)
    with _lock:
        listeners = list(_price_listeners)
    for listener in listeners:
        try:
            listener(moved)
        except Exception:  # a listener's failure is its own
            log.exception("a price listener failed")


def _publish_order(user_pk: int, app_id: int, payload: dict[str, Any]) -> None:
    try:
        postbacks.postbacks_send(user_pk=user_pk, app_id=app_id, order=payload)
    except Exception:
        log.exception("queueing the postbacks of order %s failed", payload.get("order_id"))
    with _lock:
        listeners = list(_order_listeners)
    for listener in listeners:
        try:
            listener(user_pk, payload)
        except Exception:
            log.exception("an order listener failed")
