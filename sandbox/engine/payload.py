"""An order as Kite shows it (`GET /orders`, `GET /orders/{id}`): pure, no database.

The same order reads differently at each step of its history (`status`), so the order book and
every snapshot in the order's history are both built here.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import accounting as acc
from sandbox.clock import kite_timestamp
from sandbox.engine.spec import CANCELLED, COMPLETE, OPEN, REJECTED, TRIGGER_PENDING
from sandbox.models import Order, PaperUser


def order_payload(order: Order, user: PaperUser, *, status: str | None = None) -> dict[str, Any]:
    status = status or order.status
    terminal_or_open = status in (OPEN, TRIGGER_PENDING, COMPLETE, CANCELLED, "MODIFIED", "MODIFY PENDING",
                                  "MODIFY VALIDATION PENDING", "CANCEL PENDING")
    at_exchange = bool(order.exchange_order_id) and terminal_or_open
    payload = {
        "account_id": user.user_id,
        "placed_by": user.user_id,
        "order_id": order.order_id,
        "exchange_order_id": order.exchange_order_id if at_exchange else None,
        "parent_order_id": order.parent_order_id or None,
        "status": status,
        "status_message": (order.status_message or None) if status == order.status else None,
        "status_message_raw": (order.status_message_raw or None) if status == order.status else None,
        "order_timestamp": kite_timestamp(order.order_timestamp),
        "exchange_update_timestamp": kite_timestamp(order.exchange_update_timestamp) if at_exchange else None,
        "exchange_timestamp": kite_timestamp(order.exchange_timestamp) if at_exchange else None,
        "variety": order.variety,
        "modified": order.modified,
        "exchange": order.exchange,
        "tradingsymbol": order.tradingsymbol,
        "instrument_token": order.instrument_token,
        "order_type": order.order_type,
        "transaction_type": order.transaction_type,
        "validity": order.validity,
        "validity_ttl": order.validity_ttl,
        "product": order.product,
        "quantity": order.quantity,
        "disclosed_quantity": order.disclosed_quantity,
        "price": acc.price(order.price),
        "trigger_price": acc.price(order.trigger_price),
        "average_price": acc.price(order.average_price) if order.filled_quantity else 0.0,
        "filled_quantity": order.filled_quantity,
        "pending_quantity": order.pending_quantity if status == order.status else (
            0 if status == REJECTED else order.quantity - order.filled_quantity),
        "cancelled_quantity": order.cancelled_quantity if status == order.status else 0,
        "market_protection": _number(order.market_protection),
        "meta": dict(order.meta or {}),
        "tag": order.tag or None,
        "guid": None,
    }
    tags = ([order.tag] if order.tag else []) + list(order.system_tags or [])
    if tags:
        payload["tags"] = tags
    return payload


def _number(value: Decimal) -> int | float:
    """-1, 0 or 2.5 as JSON numbers (Kite sends market_protection as a number)."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)
