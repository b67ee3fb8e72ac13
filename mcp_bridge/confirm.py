"""What the human is asked before an order is sent: the exact order, in words, and a yes/no form."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kite.services import ToolCall

# The form: one boolean. Only `accept` with confirm true sends the order.
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Send this order to Kite",
            "description": "Tick to send exactly the order above; anything else sends nothing.",
            "default": False,
        },
    },
    "required": ["confirm"],
}

_MONEY = {"sandbox": "sandbox account: paper money", "live": "LIVE account: real money"}


def _price(value: float | None) -> str:
    return f"{value:,.2f}" if value is not None else "-"


def describe(call: ToolCall) -> str:
    """The confirmation message: account, then every parameter that will be sent to Kite."""
    account = call.account
    where = f'Kite account "{account.name}" ({_MONEY.get(account.environment, account.environment)})'
    a = call.args.model_dump(exclude={"account_id"})
    lines: list[str]
    if call.tool.name == "place_order":
        lines = [
            f"Place this order on {where}?",
            f"  {a['transaction_type']} {a['quantity']} × {a['exchange']}:{a['tradingsymbol']}",
            f"  order type: {a['order_type']}"
            + (f", price {_price(a['price'])}" if a["price"] is not None else "")
            + (f", trigger price {_price(a['trigger_price'])}" if a["trigger_price"] is not None else ""),
            f"  product: {a['product']}, variety: {a['variety']}, "
            f"validity: {a['validity'] or 'DAY (Kite default)'}"
            + (f" ({a['validity_ttl']} min)" if a["validity_ttl"] is not None else ""),
        ]
        if a["disclosed_quantity"] is not None:
            lines.append(f"  disclosed quantity: {a['disclosed_quantity']}")
        if a["tag"] is not None:
            lines.append(f"  tag: {a['tag']}")
    elif call.tool.name == "modify_order":
        changes = [f"{k.replace('_', ' ')} → {_price(v) if k in ('price', 'trigger_price') else v}"
                   for k in ("quantity", "price", "trigger_price", "order_type", "validity", "disclosed_quantity")
                   if (v := a[k]) is not None]
        lines = [f"Modify order {a['order_id']} ({a['variety']}) on {where}?", *(f"  {c}" for c in changes)]
    else:
        lines = [f"Cancel order {a['order_id']} ({a['variety']}) on {where}?"]
    lines.append("Nothing is sent unless you confirm.")
    return "\n".join(lines)


def fingerprint(call: ToolCall) -> str:
    """Identifies exactly this order on this account: a confirmation counts only for what was shown."""
    payload = {"tool": call.tool.name, "account": call.account.pk, "args": call.summary}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
