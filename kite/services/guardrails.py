"""An account's own limits on orders, and the duplicate rule, checked before the human is asked and
again just before sending, on every path (REST, MCP, the approval page)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Account
from kite.errors import Guardrail, RateLimited
from kite.ist import IST
from kite.models import OrderAudit
from kite.tools import TOOLS, Exposure, money

DUPLICATE_WINDOW = timedelta(seconds=30)
ORDERS_PER_SECOND = 10  # Kite's cap per Kite user since April 2026, across every path (REST, web, MCP)
ORDERS_PER_MINUTE = 200  # Kite's order calls a minute per Kite user
ORDERS_PER_DAY = 3000  # Kite's orders placed a day per Kite user, every segment and variety
_REACHED_KITE = (OrderAudit.Outcome.SENT, OrderAudit.Outcome.UNKNOWN, OrderAudit.Outcome.FAILED)


def order_value(exposure: Exposure, *, last_price: Callable[[], float | None]) -> float | None:
    """Quantity x limit price; x trigger price for SL-M; x last price for MARKET (None if unknown)."""
    if exposure.order_type == "SL-M":
        per_unit = exposure.trigger_price
    elif exposure.order_type == "MARKET":
        per_unit = last_price()
    else:
        per_unit = exposure.price
    return None if per_unit is None else per_unit * exposure.quantity


def guardrail_problems(*, account: Account, exposure: Exposure, last_price: Callable[[], float | None],
                       now: datetime | None = None) -> list[str]:
    """Every rule this order breaks, each as a sentence naming the rule and both figures."""
    now = now or timezone.now()
    problems: list[str] = []
    sent = OrderAudit.objects.filter(account_id=account.pk).exclude(order_key="")
    if sent.filter(order_key=exposure.key, created_at__gte=now - DUPLICATE_WINDOW,
                   outcome__in=(OrderAudit.Outcome.SENT, OrderAudit.Outcome.UNKNOWN)).exists():
        problems.append(f"An identical order ({exposure.transaction_type} {exposure.quantity} {exposure.instrument} "
                        f"{exposure.order_type}) was sent from account {account.name!r} in the last "
                        f"{DUPLICATE_WINDOW.seconds} seconds: refused as a duplicate.")
    if account.max_orders_per_day is not None:
        day_start = datetime.combine(now.astimezone(IST).date(), datetime.min.time(), tzinfo=IST)
        today = sent.filter(outcome=OrderAudit.Outcome.SENT, created_at__gte=day_start).count()
        if today >= account.max_orders_per_day:
            problems.append(f"Orders per day: {today} already sent today from account {account.name!r}, the "
                            f"account's limit is {account.max_orders_per_day} (max_orders_per_day).")
    if account.max_order_value is not None:
        value = order_value(exposure, last_price=last_price)
        limit = Decimal(account.max_order_value)
        if value is None:
            problems.append(f"The order's value could not be worked out (no last price for {exposure.instrument}), "
                            f"so the account's limit of ₹{money(float(limit))} (max_order_value) cannot be checked.")
        elif Decimal(str(round(value, 2))) > limit:
            problems.append(f"Order value ₹{money(value)} is over the account's limit of ₹{money(float(limit))} "
                            "(max_order_value).")
    return problems


def guardrails_check(*, account: Account, exposure: Exposure, last_price: Callable[[], float | None]) -> None:
    problems = guardrail_problems(account=account, exposure=exposure, last_price=last_price)
    if problems:
        raise Guardrail(" ".join(problems) + " Nothing was sent.")


def order_rate_check(*, account: Account, tool_name: str, now: datetime | None = None) -> None:
    """Kite's order limits per Kite user (an account here), counted from the audit log, which every process
    writes, so they hold across paths (the web app and the MCP server are two processes, each pacing its own
    calls) and across restarts:
    - at most 10 order calls a second and 200 a minute: place, modify, cancel, exit (the tools of Kite's
      "orders" rate class; GTT and mutual-fund routes are Kite's "other" class);
    - at most 3000 orders placed a day (IST), across every segment and variety.
    Kite answers 429 past them; here the call is refused before it is sent (RateLimited, with Retry-After).
    Source: Kite Connect's docs, exceptions page ("200 orders per minute and 10 orders per second"; "a single
    user/API key will not be able to place more than 3000 orders per day")."""
    now = now or timezone.now()
    order_tools = [name for name, tool in TOOLS.items() if tool.write and tool.rate_class == "orders"]
    placing = [name for name, tool in TOOLS.items() if tool.write and tool.write.opens is not None]
    reached = OrderAudit.objects.filter(account_id=account.pk, outcome__in=_REACHED_KITE)
    orders = reached.filter(tool__in=order_tools)
    for limit, window, per in ((ORDERS_PER_SECOND, timedelta(seconds=1), "a second"),
                               (ORDERS_PER_MINUTE, timedelta(minutes=1), "a minute")):
        recent = orders.filter(created_at__gt=now - window).order_by("-created_at")
        count = recent.count()
        if count >= limit:
            # Free again when the limit-th most recent call leaves the window.
            edge = recent.values_list("created_at", flat=True)[limit - 1]
            wait = min(window.total_seconds(), max(0.1, (edge + window - now).total_seconds()))
            raise RateLimited(f"Kite takes at most {limit} orders {per} from a Kite user, and {count} went out from "
                              f"account {account.name!r} in the last {per[2:]}. Nothing was sent: try again in "
                              f"{wait:.1f} s.", retry_after=wait)
    if tool_name in placing:
        day = now.astimezone(IST).date()
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=IST)
        placed = reached.filter(tool__in=placing, created_at__gte=day_start).count()
        if placed >= ORDERS_PER_DAY:
            wait = (day_start + timedelta(days=1) - now).total_seconds()
            raise RateLimited(f"Kite takes at most {ORDERS_PER_DAY} orders a day from a Kite user, and {placed} were "
                              f"placed from account {account.name!r} today (IST). Nothing was sent: Kite takes new "
                              "orders again tomorrow.", retry_after=wait)
