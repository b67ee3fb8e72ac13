"""History, the writes: order updates (postbacks, the ticker, the day's order book), trades and end-of-day
holding snapshots, each stored once per account (CONTRACT section 10).

- `order_update_record` stores one order state seen from any source (the ticker calls it too) and, when it
  is new, publishes it to the owner's pages (kite.live).
- `postback_receive` verifies a Kite postback (SHA-256 of order_id + order_timestamp + api_secret, compared
  in constant time against the secret of each account bound to the payload's Kite user) and records it.
- `account_snapshot` reads the day's orders, trades and holdings through the tool registry and stores them;
  run twice, it changes nothing.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from kite import live
from kite.errors import InvalidInput, PostbackRefused, PostbackUnreadable
from kite.history import CENT, kite_time, number, order_fingerprint, postback_checksum
from kite.ist import IST
from kite.models import HoldingSnapshot, OrderUpdate, PortfolioSnapshot, Source, TradeRecord
from kite.services.execution import tool_execute
from kite.tools import to_json

log = logging.getLogger(__name__)
TICK = Decimal("0.0001")  # the places the snapshot columns keep




# --- Order updates ---------------------------------------------------------------------------------

_EVENT_FIELDS = ("order_id", "status", "status_message", "exchange", "tradingsymbol", "transaction_type",
                 "order_type", "product", "variety", "quantity", "filled_quantity", "pending_quantity",
                 "average_price", "price", "order_timestamp", "tag")


def order_event(*, account: Account, order: dict[str, Any], source: str) -> dict[str, Any]:
    """What the pages get for an order update (kite.live): the account, where it came from, the order."""
    return {"type": "order", "source": source, "account_id": account.pk, "account": account.name,
            "order": {k: order.get(k) for k in _EVENT_FIELDS if k in order}}


def _short(value: Any, limit: int) -> str:
    return str(value)[:limit] if value is not None else ""


def order_update_record(*, account: Account, order: dict[str, Any], source: str, publish: bool = True
                        ) -> tuple[OrderUpdate, bool]:
    """Store one order state (Kite's order object, as a postback, the ticker or GET /orders give it) once.
    Returns the row and whether it is new; a new one is published to the owner's pages after the commit."""
    payload = to_json({k: v for k, v in order.items() if k != "checksum"})  # datetimes as Kite writes them
    fingerprint = order_fingerprint(payload)
    moment = kite_time(payload.get("order_timestamp"))
    fields = {
        "order_id": _short(payload.get("order_id"), 64), "status": _short(payload.get("status"), 64),
        "exchange": _short(payload.get("exchange"), 8), "tradingsymbol": _short(payload.get("tradingsymbol"), 64),
        "transaction_type": _short(payload.get("transaction_type"), 8),
        "quantity": number(payload.get("quantity")), "filled_quantity": number(payload.get("filled_quantity")),
        "average_price": number(payload.get("average_price")), "order_timestamp": moment,
        "trading_day": (moment or timezone.now()).astimezone(IST).date(), "source": source, "payload": payload,
    }
    try:
        with transaction.atomic():
            row, created = OrderUpdate.objects.get_or_create(account=account, fingerprint=fingerprint,
                                                            defaults=fields)
    except IntegrityError:  # the same state arriving at the same instant from another source
        return OrderUpdate.objects.get(account=account, fingerprint=fingerprint), False
    if created and publish:
        event = order_event(account=account, order=payload, source=source)
        transaction.on_commit(lambda: live.publish(account.user_id, event))
    return row, created


# --- Postbacks -------------------------------------------------------------------------------------

POSTBACK_MAX_BYTES = 64 * 1024  # Kite's postback is one order object, about 1.5 KB
_ORDER_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
_USER_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_REQUIRED = ("user_id", "order_id", "order_timestamp", "checksum")


def postback_parse(body: bytes) -> dict[str, Any]:
    """The postback's JSON object, with the fields verification needs checked; else a 400 naming them."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PostbackUnreadable("The postback body is not JSON: Kite sends the order as a raw JSON body.") from None
    if not isinstance(payload, dict):
        raise PostbackUnreadable("The postback body must be a JSON object (Kite's order object).")
    fields: dict[str, list[str]] = {}
    for name in _REQUIRED:
        if not isinstance(payload.get(name), str) or not payload[name]:
            fields[name] = ["Required: a non-empty string."]
    if "order_id" not in fields and not _ORDER_ID.match(payload["order_id"]):
        fields["order_id"] = ["Letters, digits and dashes, at most 64."]
    if "user_id" not in fields and not _USER_ID.match(payload["user_id"]):
        fields["user_id"] = ["A Kite user id: letters and digits."]
    if "order_timestamp" not in fields and kite_time(payload["order_timestamp"]) is None:
        fields["order_timestamp"] = ["Kite's yyyy-mm-dd hh:mm:ss."]
    if "status" in payload and not isinstance(payload["status"], str):
        fields["status"] = ["Must be a string."]
    if fields:
        where = next(iter(fields))
        raise InvalidInput(f"Invalid postback ({where}: {fields[where][0]})", fields=fields)
    return payload


def postback_accounts(payload: dict[str, Any]) -> list[Account]:
    """The accounts a postback is for: bound to its Kite user *and* holding the app secret its checksum was
    made with. A body naming another Kite user, or signed with another secret, matches none."""
    checksum = payload["checksum"].strip().lower()
    found = []
    for account in Account.objects.filter(kite_user_id=payload["user_id"]):
        secret = account.api_secret
        if not secret:
            continue
        expected = postback_checksum(order_id=payload["order_id"], order_timestamp=payload["order_timestamp"],
                                     api_secret=secret)
        if hmac.compare_digest(expected.encode(), checksum.encode()):
            found.append(account)
    return found


def postback_receive(*, body: bytes) -> list[tuple[OrderUpdate, bool]]:
    """Verify and record a postback: one row per account it verifies for (stored once; a repeat is a no-op).
    Raises PostbackRefused (403) when no account verifies it: then nothing is recorded."""
    payload = postback_parse(body)
    accounts = postback_accounts(payload)
    if not accounts:
        # Never say which part failed (unknown Kite user, or a wrong checksum): that would help a forger.
        log.warning("A postback for order %s was refused: no account's secret verifies its checksum",
                    payload["order_id"])
        raise PostbackRefused("This postback could not be verified: its checksum matches no account here.")
    with transaction.atomic():
        return [order_update_record(account=a, order=payload, source=Source.POSTBACK) for a in accounts]


# --- The daily snapshot ----------------------------------------------------------------------------

@dataclass
class SnapshotResult:
    account: Account
    day: date
    orders_new: int = 0
    trades_new: int = 0
    holdings: int = 0
    changed: bool = False  # whether the day's holdings snapshot was written (new, or different)

    def line(self) -> str:
        what = "stored" if self.changed else "unchanged"
        return (f"{self.account.name} (id {self.account.pk}): {self.day.isoformat()} {self.holdings} holding(s) "
                f"{what}, {self.trades_new} new trade(s), {self.orders_new} new order state(s).")


def _read(account: Account, tool_name: str) -> Any:
    return tool_execute(user=account.user, tool_name=tool_name, arguments={"account_id": account.pk}, path="cli")


def _holding_rows(holdings: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for h in holdings:
        if not isinstance(h, dict):
            continue
        quantity = (number(h.get("quantity")) or Decimal(0)).quantize(TICK)  # as the Portfolio page counts it
        average = (number(h.get("average_price")) or Decimal(0)).quantize(TICK)
        close = number(h.get("last_price"))
        if close is None:
            raise InvalidInput(f"Kite gave no last price for {h.get('exchange')}:{h.get('tradingsymbol')}: the "
                               "snapshot would be wrong, so none was stored.")
        close = close.quantize(TICK)
        value = (quantity * close).quantize(CENT)
        rows.append({"exchange": _short(h.get("exchange"), 8), "tradingsymbol": _short(h.get("tradingsymbol"), 64),
                     "quantity": quantity, "average_price": average, "close_price": close, "value": value,
                     "pnl": (value - quantity * average).quantize(CENT)})
    return rows


def _trade_row(account: Account, trade: dict[str, Any]) -> TradeRecord | None:
    moment = kite_time(trade.get("fill_timestamp")) or kite_time(trade.get("exchange_timestamp"))
    quantity, price = number(trade.get("quantity")), number(trade.get("average_price"))
    if not trade.get("trade_id") or moment is None or quantity is None or price is None:
        log.warning("A trade of account %s without id, time, quantity or price was not stored", account.pk)
        return None
    return TradeRecord(account=account, trade_id=_short(trade["trade_id"], 64),
                       order_id=_short(trade.get("order_id"), 64), exchange=_short(trade.get("exchange"), 8),
                       tradingsymbol=_short(trade.get("tradingsymbol"), 64), product=_short(trade.get("product"), 8),
                       transaction_type=_short(trade.get("transaction_type"), 8), quantity=quantity, price=price,
                       fill_timestamp=moment, trading_day=moment.astimezone(IST).date(), source=Source.SNAPSHOT,
                       payload=trade)


_SNAPSHOT_KEYS = ("exchange", "tradingsymbol", "quantity", "average_price", "close_price", "value", "pnl")


def _same(snapshot: PortfolioSnapshot, rows: list[dict[str, Any]]) -> bool:
    """Whether the stored snapshot holds exactly these rows (Decimals compare by value: 1.50 == 1.5)."""
    have = sorted(tuple(getattr(h, k) for k in _SNAPSHOT_KEYS) for h in snapshot.holdings.all())
    return have == sorted(tuple(r[k] for k in _SNAPSHOT_KEYS) for r in rows)


def account_snapshot(*, account: Account, day: date) -> SnapshotResult:
    """Read the account's orders, trades and holdings from Kite (through the registry) and store them: the
    order states and trades not seen before, and the holdings as the snapshot of `day`. Nothing is stored
    unless all three were read (a ServiceError says why)."""
    orders = _read(account, "get_orders") or []
    trades = _read(account, "get_trades") or []
    rows = _holding_rows(_read(account, "get_holdings") or [])
    result = SnapshotResult(account=account, day=day, holdings=len(rows))
    with transaction.atomic():
        for order in orders:
            if isinstance(order, dict) and order.get("order_id"):
                _, created = order_update_record(account=account, order=order, source=Source.SNAPSHOT, publish=False)
                result.orders_new += created
        records = [r for r in (_trade_row(account, t) for t in trades if isinstance(t, dict)) if r is not None]
        before = TradeRecord.objects.filter(account=account).count()
        TradeRecord.objects.bulk_create(records, ignore_conflicts=True)
        result.trades_new = TradeRecord.objects.filter(account=account).count() - before
        existing = PortfolioSnapshot.objects.filter(account=account, date=day).first()
        if existing is not None and _same(existing, rows):
            return result
        value = sum((r["value"] for r in rows), Decimal(0))
        invested = sum(((r["quantity"] * r["average_price"]).quantize(CENT) for r in rows), Decimal(0))
        snapshot, _ = PortfolioSnapshot.objects.update_or_create(
            account=account, date=day,
            defaults={"value": value, "invested": invested, "pnl": value - invested, "taken_at": timezone.now()})
        snapshot.holdings.all().delete()
        HoldingSnapshot.objects.bulk_create([HoldingSnapshot(snapshot=snapshot, **r) for r in rows])
        result.changed = True
    return result
