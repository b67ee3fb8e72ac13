"""GTT routes' services and selectors (`/gtt/triggers`): place, modify and delete under the user's
book lock, and triggers as Kite shows them. The triggers' life after that (firing, expiry) is the
engine's (`sandbox.engine.gtt`), applied as the clock and prices move.

A GTT may be placed, modified and deleted while the market is closed: it waits for the price.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sandbox.clock import kite_timestamp
from sandbox.engine.book import locked_book
from sandbox.engine.gtt import ACTIVE, DELETED, MAX_ACTIVE, TOO_MANY, VALIDITY, gtt_apply, gtt_spec_parse
from sandbox.engine.scheduler import book_advance
from sandbox.engine.spec import Form
from sandbox.errors import InputError
from sandbox.models import App, GTTTrigger, PaperUser


def gtt_payload(trigger: GTTTrigger, user: PaperUser) -> dict[str, Any]:
    """A trigger as Kite shows it (kiteconnect-mocks `gtt_get_order.json`)."""
    return {
        "id": trigger.pk, "user_id": user.user_id, "parent_trigger": None, "type": trigger.trigger_type,
        "created_at": kite_timestamp(trigger.created_at), "updated_at": kite_timestamp(trigger.updated_at),
        "expires_at": kite_timestamp(trigger.expires_at), "status": trigger.status,
        "condition": {"exchange": trigger.exchange, "last_price": trigger.last_price,
                      "tradingsymbol": trigger.tradingsymbol, "trigger_values": list(trigger.trigger_values),
                      "instrument_token": trigger.instrument_token},
        "orders": list(trigger.orders), "meta": {},
    }


def _trigger_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"Invalid `trigger_id` {raw!r}: a number.") from None


def _find(user: PaperUser, trigger_id: str) -> GTTTrigger:
    trigger = GTTTrigger.objects.filter(user=user, pk=_trigger_id(trigger_id)).first()
    if trigger is None:
        raise InputError(f"Couldn't find that `trigger_id` ({trigger_id}).")
    return trigger


def gtt_list(*, user: PaperUser) -> list[dict[str, Any]]:
    """The GTT book, newest first (deleted triggers left out)."""
    return [gtt_payload(t, user) for t in GTTTrigger.objects.filter(user=user).exclude(status=DELETED)]


def gtt_get(*, user: PaperUser, trigger_id: str) -> dict[str, Any]:
    return gtt_payload(_find(user, trigger_id), user)


def gtt_place(*, user: PaperUser, app: App, params: Form, now: dt.datetime) -> int:
    """Place a GTT (at most MAX_ACTIVE active per user); returns its trigger_id."""
    spec = gtt_spec_parse(params, now)  # before the lock: a bad form waits for nobody
    with locked_book(user.pk) as book:
        book_advance(book, now)
        active = book.active_gtts()
        if len(active) >= MAX_ACTIVE:
            raise InputError(TOO_MANY)
        trigger = GTTTrigger(user=book.user, app_id=app.pk, status=ACTIVE, created_at=now, updated_at=now,
                             expires_at=now + VALIDITY)
        gtt_apply(trigger, spec)
        trigger.save()
        assert book.gtts is not None
        book.gtts.append(trigger)
        return trigger.pk


def gtt_modify(*, user: PaperUser, trigger_id: str, params: Form, now: dt.datetime) -> int:
    """Replace an active trigger's condition and orders (same form as placing); its expiry stays."""
    spec = gtt_spec_parse(params, now)
    wanted = _trigger_id(trigger_id)
    with locked_book(user.pk) as book:
        book_advance(book, now)  # it may have fired or lapsed by now
        trigger = next((t for t in book.active_gtts() if t.pk == wanted), None)
        if trigger is None:
            found = _find(book.user, trigger_id)
            raise InputError(f"Only an active GTT can be modified; this one is {found.status}.")
        gtt_apply(trigger, spec)
        trigger.updated_at = now
        book.touch(trigger)
        return trigger.pk


def gtt_delete(*, user: PaperUser, trigger_id: str, now: dt.datetime) -> int:
    """Delete a trigger (active, or spent: it leaves the GTT book)."""
    wanted = _trigger_id(trigger_id)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        book.active_gtts()
        assert book.gtts is not None
        trigger = next((t for t in book.gtts if t.pk == wanted), None) or _find(book.user, trigger_id)
        if trigger.status == DELETED:
            raise InputError(f"Couldn't find that `trigger_id` ({trigger_id}).")
        trigger.status, trigger.updated_at = DELETED, now
        book.touch(trigger)
        return trigger.pk
