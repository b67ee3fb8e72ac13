"""What the human is asked before a write is sent: the tool's own sentence for it, and a yes/no form; and the
questions asked by the 2026-07-28 input-required round trip, kept in the database until answered (any worker
process, or a restarted `runmcp`, finishes them)."""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pending_ask(call: ToolCall, *, ttl_seconds: float) -> str:
    """Keep the question about this exact write; returns the single-use token that names it (the client's
    `requestState`, sealed on the wire by the SDK). Questions nobody answered in time are audited and dropped."""
    from mcp_bridge.models import PendingConfirmation

    assert call.account is not None
    pending_expire()
    token = secrets.token_urlsafe(32)
    PendingConfirmation.objects.create(
        token_hash=_token_hash(token), user=call.user, account=call.account, tool=call.tool.name,
        arguments=json.loads(json.dumps(call.arguments, default=str)), summary=call.summary,
        fingerprint=fingerprint(call), expires_at=timezone.now() + timedelta(seconds=ttl_seconds))
    return token


def pending_answer(call: ToolCall, token: str | None) -> bool:
    """Whether `token` names an unexpired question this server asked this user about this very write. The
    question is used up either way: of two retries with one token (two workers at once), at most one counts."""
    from mcp_bridge.models import PendingConfirmation

    if not token:
        return False
    row = PendingConfirmation.objects.filter(token_hash=_token_hash(token), user=call.user).first()
    if row is None:
        return False
    with transaction.atomic():
        if not PendingConfirmation.objects.filter(pk=row.pk).delete()[0]:  # one DELETE: one retry wins
            return False
        if row.expires_at <= timezone.now():
            _audit_expired(row)
            return False
    return row.fingerprint == fingerprint(call)


def pending_expire() -> int:
    """Questions past their time: each audited once as expired (nothing was sent) and deleted."""
    from mcp_bridge.models import PendingConfirmation

    expired = 0
    for row in PendingConfirmation.objects.filter(expires_at__lte=timezone.now()).select_related("user", "account"):
        with transaction.atomic():
            if PendingConfirmation.objects.filter(pk=row.pk).delete()[0]:  # else another process expired it
                _audit_expired(row)
                expired += 1
    return expired


def _audit_expired(row: Any) -> None:
    from kite.models import OrderAudit
    from kite.services.approvals import stored_write_audit

    stored_write_audit(row, outcome=OrderAudit.Outcome.EXPIRED, path=OrderAudit.Path.MCP,
                       message="Asked in the MCP client; no answer came back in time, so nothing was sent.")
