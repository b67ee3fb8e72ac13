"""The engine's write services, what the views call: lock the user's book, bring it up to `now`,
then act (`sandbox.engine.lifecycle`). Each returns the order_id; input errors raise before
anything is written, and a risk rejection is a REJECTED order, as on Kite.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sandbox.engine.book import locked_book
from sandbox.engine.lifecycle import (
    order_autoslice_in_book,
    order_cancel_in_book,
    order_exit_in_book,
    order_modify_in_book,
    order_place_in_book,
)
from sandbox.engine.scheduler import book_advance
from sandbox.engine.spec import Form, order_spec_parse, parse_variety
from sandbox.models import PaperUser


def order_place(*, user: PaperUser, variety: str, params: Form, now: dt.datetime, app_id: int = 0) -> str:
    """Place an order; returns its order_id. Input errors raise; risk rejections are REJECTED orders."""
    answer = order_place_answer(user=user, variety=variety, params=params, now=now, app_id=app_id)
    return answer["order_id"]


def order_place_answer(*, user: PaperUser, variety: str, params: Form, now: dt.datetime, app_id: int = 0
                       ) -> dict[str, Any]:
    """Place an order for the app `app_id` and answer as Kite does: {"order_id"}, or with `autoslice=true` the
    parent id and its slices ({"order_id", "children"})."""
    spec = order_spec_parse(variety, params, now)  # before the lock: a bad form waits for nobody
    with locked_book(user.pk) as book:
        book_advance(book, now)
        if spec.autoslice:
            return order_autoslice_in_book(book, spec=spec, now=now, app_id=app_id)
        return {"order_id": order_place_in_book(book, spec=spec, now=now, app_id=app_id).order_id}


def order_modify(*, user: PaperUser, variety: str, order_id: str, params: Form, now: dt.datetime) -> str:
    parse_variety(variety)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        return order_modify_in_book(book, order_id=order_id, params=params, now=now).order_id


def order_cancel(*, user: PaperUser, variety: str, order_id: str, now: dt.datetime,
                 parent_order_id: str | None = None) -> str:
    """Cancel an open order; with variety co, exit the cover order (`order_exit_in_book`)."""
    variety = parse_variety(variety)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        if variety == "co":
            return order_exit_in_book(book, order_id=order_id, parent_order_id=parent_order_id, now=now).order_id
        return order_cancel_in_book(book, order_id=order_id, now=now).order_id
