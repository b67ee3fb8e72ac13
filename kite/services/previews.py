"""What a write would cost, shown to the human wherever they are asked: the MCP confirmation and the
approval page show the same figures (the write tool's own preview tool, e.g. preview_order)."""
from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from kite.errors import ServiceError
from kite.services.execution import tool_execute
from kite.tools import TOOLS, money

log = logging.getLogger(__name__)


def write_preview(*, user: AbstractBaseUser, tool_name: str, arguments: dict[str, Any], path: str
                  ) -> tuple[dict[str, Any] | None, str]:
    """(the preview, "") or (None, why there is none); ("", None) for a tool without a preview tool."""
    tool = TOOLS.get(tool_name)
    preview_tool = tool.write.preview if tool is not None and tool.write is not None else None
    if not preview_tool:
        return None, ""
    try:
        return tool_execute(user=user, tool_name=preview_tool, arguments=arguments, path=path), ""
    except ServiceError as error:
        log.info("No preview of %s: %s", tool_name, error.message)
        return None, error.message


def preview_words(preview: dict[str, Any] | None, problem: str = "") -> str:
    """The figures in one line: value, margin, charges, and whatever could not be fetched, said as such."""
    if preview is None:
        return f"No estimate of value, margin or charges: {problem}" if problem else ""
    unavailable = preview.get("unavailable") or {}

    def amount(value: Any, key: str) -> str:
        return f"₹{money(float(value))}" if isinstance(value, (int, float)) else \
            f"not available ({unavailable.get(key, 'Kite gave none')})"
    margin = (preview.get("margin") or {}).get("total")
    charges = ((preview.get("charges") or {}).get("charges") or {}).get("total")
    words = (f"Estimated value {amount(preview.get('order_value'), 'order_value')}; margin needed "
             f"{amount(margin, 'margin')}; Kite's charges {amount(charges, 'charges')}.")
    problems = (preview.get("guardrails") or {}).get("problems") or []
    return words + ("".join(f" {p}" for p in problems))
