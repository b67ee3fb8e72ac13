"""Approvals: a write that an MCP client could not have confirmed waits here for the human, who says
yes or no on the web app's approval page. Nothing reaches Kite until then; an approval is used once.

Statuses: pending -> approved (sent, with the id Kite returned) | failed (approved, but Kite or a
guardrail refused; the error says which) | declined | expired (after KITE_APPROVAL_TTL_SECONDS).
Only the owner's signed-in browser decides (kite.views); the API and MCP only read them.
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from kite.errors import InvalidInput, NotFound, ServiceError
from kite.ist import iso_ist
from kite.models import Approval, OrderAudit
from kite.services.execution import ToolCall, tool_call_prepare, tool_call_recognise, tool_call_refuse, tool_call_run

log = logging.getLogger(__name__)


def approve_url(approval: Approval) -> str:
    return f"{settings.APP_BASE_URL}/orders/approvals/{approval.pk}/"


def approval_create(*, call: ToolCall) -> Approval:
    """Keep a prepared write for the human to decide in the web app; audited as awaiting approval."""
    assert call.tool.write is not None and call.account is not None
    if not call.details:
        tool_call_recognise(call)  # the approval page names what the write changes, as it is now
    approval = Approval.objects.create(
        user=call.user, account=call.account, tool=call.tool.name, arguments=call.arguments, summary=call.summary,
        path=call.path, expires_at=timezone.now() + timedelta(seconds=settings.KITE_APPROVAL_TTL_SECONDS))
    tool_call_refuse(call, None, outcome=OrderAudit.Outcome.AWAITING)
    return approval


def approval_json(approval: Approval) -> dict[str, Any]:
    """CONTRACT section 8's shape, times in ISO 8601 IST."""
    return {
        "id": approval.pk, "account_id": approval.account_id, "tool": approval.tool, "arguments": approval.arguments,
        "status": approval.status, "summary": approval.summary, "created_at": iso_ist(approval.created_at),
        "expires_at": iso_ist(approval.expires_at), "decided_at": iso_ist(approval.decided_at),
        "order_id": approval.order_id or None, "error": approval.error or None,
        "approve_url": approve_url(approval),
    }


def approvals_expire(*, user: AbstractBaseUser) -> None:
    """Pending approvals past their time read `expired` from now on (each audited once)."""
    now = timezone.now()
    for approval in Approval.objects.filter(user=user, status=Approval.Status.PENDING, expires_at__lte=now):
        if Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
                status=Approval.Status.EXPIRED, decided_at=now):
            stored_write_audit(approval, outcome=OrderAudit.Outcome.EXPIRED, path=approval.path,
                   message="Nobody approved it in time: nothing was sent.")


def approval_list(*, user: AbstractBaseUser, account_ids: Collection[int] | None = None) -> QuerySet[Approval]:
    approvals_expire(user=user)
    approvals = Approval.objects.filter(user=user)
    return approvals.filter(account_id__in=list(account_ids)) if account_ids is not None else approvals


def approval_get(*, user: AbstractBaseUser, approval_id: Any, account_ids: Collection[int] | None = None
                 ) -> Approval:
    """The user's approval; NotFound for a missing one, someone else's, or one of an account not served."""
    try:
        return approval_list(user=user, account_ids=account_ids).select_related("account").get(pk=int(approval_id))
    except (Approval.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such approval.") from None


def pending_count(*, user: AbstractBaseUser) -> int:
    return Approval.objects.filter(user=user, status=Approval.Status.PENDING, expires_at__gt=timezone.now()).count()


def approval_decide(*, approval: Approval, user: AbstractBaseUser, approve: bool) -> Approval:
    """The owner's yes (send it, once) or no. A decided or expired approval changes nothing: InvalidInput."""
    if approval.user_id != user.pk:
        raise NotFound("No such approval.")
    now = timezone.now()
    claimed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING, expires_at__gt=now).update(
        status=Approval.Status.APPROVED if approve else Approval.Status.DECLINED, decided_at=now,
        decided_by=user.get_username())
    approval.refresh_from_db()
    if not claimed:
        approvals_expire(user=user)
        approval.refresh_from_db()
        raise InvalidInput(f"This approval is {approval.get_status_display()} already: nothing was changed or sent.")
    if not approve:
        stored_write_audit(approval, outcome=OrderAudit.Outcome.DECLINED, path="web",
               message=f"Declined by {user.get_username()} on the approval page: nothing was sent.")
        return approval
    try:
        call = tool_call_prepare(user=user, tool_name=approval.tool, arguments={**approval.arguments}, path="web")
        data = tool_call_run(call)
    except ServiceError as error:  # refused, failed at Kite, or its outcome unknown (the error says which)
        Approval.objects.filter(pk=approval.pk).update(status=Approval.Status.FAILED, error_type=error.type,
                                                       error=error.message)
    else:
        creates = call.tool.write.creates if call.tool.write else None
        created = data.get(creates, "") if creates and isinstance(data, dict) else ""
        Approval.objects.filter(pk=approval.pk).update(order_id=str(created or ""))
    approval.refresh_from_db()
    return approval


def stored_write_audit(write: Any, *, outcome: str, path: str, message: str) -> None:
    """The audit row of a write kept for the human (an Approval, an MCP PendingConfirmation: a user, an account,
    a tool, its arguments and summary) that ended without being sent."""
    OrderAudit.objects.create(
        user=write.user, username=write.user.get_username(), path=path, account=write.account,
        account_name=write.account.name, tool=write.tool, summary=write.summary,
        arguments=write.arguments, outcome=outcome, message=message)
