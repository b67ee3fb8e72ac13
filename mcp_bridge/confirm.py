"""What the human is asked before a write is sent: the tool's own sentence for it, and a yes/no form."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kite.services.execution import ToolCall

# The form: one boolean. Only `accept` with confirm true sends the order.
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Send this to Kite",
            "description": "Tick to send exactly what is described above; anything else sends nothing.",
            "default": False,
        },
    },
    "required": ["confirm"],
}


def describe(call: ToolCall) -> str:
    """The confirmation message: the write in the tool's own words (kite.tools.Tool.summary)."""
    return f"{call.summary}\nNothing is sent unless you confirm."


def fingerprint(call: ToolCall) -> str:
    """Identifies exactly this write on this account: a confirmation counts only for what was shown."""
    payload = {"tool": call.tool.name, "account": call.account.pk if call.account else None, "args": call.arguments}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
