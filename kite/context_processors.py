"""What every page's navigation shows: how many orders wait for the signed-in user's approval."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def pending_approvals(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from kite.services.approvals import pending_count

    return {"pending_approvals": pending_count(user=user)}
