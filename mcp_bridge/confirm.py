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


def describe(call: ToolCall, figures: str = "") -> str:
    """The confirmation message: the write in the tool's own words (kite.tools.Tool.summary), then what it
    would cost (the same figures as the approval page)."""
    return "\n".join(line for line in (call.summary, figures, "Nothing is sent unless you confirm.") if line)


def describe_with_preview(call: ToolCall) -> str:
    """describe(), with the figures of the tool's preview (a read of Kite: call in a Django thread)."""
    from kite.services.execution import tool_call_recognise
    from kite.services.previews import preview_words, write_preview

    tool_call_recognise(call)  # the order (GTT, SIP) it changes, as it is now: the audit keeps the same words
    preview, problem = write_preview(user=call.user, tool_name=call.tool.name, arguments=call.arguments,
                                     path=call.path)
    return describe(call, preview_words(preview, problem))


def fingerprint(call: ToolCall) -> str:
    """Identifies exactly this write on this account: a confirmation counts only for what was shown."""
    payload = {"tool": call.tool.name, "account": call.account.pk if call.account else None, "args": call.arguments}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
