"""Kite's postbacks: every order update POSTed to the app's `postback_url` as a raw JSON body.

Kite's shape (kite.trade/docs/connect/v3/postbacks): the order object plus `user_id`,
`unfilled_quantity`, `app_id` and `checksum`, the hex SHA-256 of order_id + order_timestamp +
api_secret (order_timestamp as "yyyy-mm-dd hh:mm:ss"). Kite posts COMPLETE, CANCELLED, REJECTED and
UPDATE (an open order modified or partly filled); the sandbox does the same. Kite notifies only the
app whose api_key placed the order ("Only orders placed using the app's api_key are notified"): so
does the sandbox (an order's `app_id`; a cover order's stop-loss leg, an iceberg's later legs and a
GTT's order belong to the app of what placed them; the square-off's orders to none). The ticker's
order updates, as Kite's WebSocket, carry every order of the user.

Delivery is off the request thread (a small pool), with a short timeout, once: a failure is logged
(the URL without its query), never raised, and never delays or undoes an order.
"""
from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import InputError
from sandbox.models import App

log = logging.getLogger("sandbox.postbacks")

TIMEOUT_SECONDS = 5.0
POSTBACK_STATUSES = ("COMPLETE", "CANCELLED", "REJECTED", "UPDATE")
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sandbox-postback")


def postback_url_clean(raw: Any) -> str:
    """An app's postback URL as given to `POST /sandbox/apps` (None or "": no postbacks)."""
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str):
        raise InputError("Invalid `postback_url`: an http:// or https:// URL.")
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500 or " " in url:
        raise InputError("Invalid `postback_url`: an http:// or https:// URL.")
    return url


def app_postback_url_set(*, app: App, url: str) -> None:
    if url != app.postback_url:
        app.postback_url = url
        App.objects.filter(pk=app.pk).update(postback_url=url)


def postback_checksum(*, order_id: str, order_timestamp: str, api_secret: str) -> str:
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


def postback_payload(*, order: dict[str, Any], app: App) -> dict[str, Any]:
    """The body Kite posts for one order update of `app`'s user."""
    return {
        "user_id": order["placed_by"],
        "unfilled_quantity": order["pending_quantity"],
        "app_id": app.pk,
        "checksum": postback_checksum(order_id=order["order_id"], order_timestamp=order["order_timestamp"] or "",
                                      api_secret=app.api_secret),
        **order,
    }


def _deliver(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "kite-sandbox"})
    where = urlsplit(url)._replace(query="", fragment="").geturl()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 - http(s) only
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        log.warning("postback to %s answered %s", where, exc.code)
    except (OSError, ValueError) as exc:
        log.warning("postback to %s failed: %s", where, getattr(exc, "reason", exc))


def postbacks_send(*, user_pk: int, app_id: int, order: dict[str, Any]) -> None:
    """Queue the postback of one order update (its payload as the order book shows it) to the app that placed
    the order, if it has a postback_url; returns at once."""
    if order["status"] not in POSTBACK_STATUSES or not app_id:
        return
    apps = list(App.objects.filter(user_id=user_pk, pk=app_id).exclude(postback_url=""))
    for app in apps:
        body = json.dumps(postback_payload(order=order, app=app)).encode()
        _pool.submit(_deliver, app.postback_url, body)
