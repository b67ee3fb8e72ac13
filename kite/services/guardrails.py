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


def order_rate_check(*, account: Account) -> None:
    """Kite takes at most 10 orders a second (place, modify, cancel, exit: the tools of Kite's "orders" rate
    class; GTT and mutual-fund routes are Kite's "other" class) from a Kite user (an account here): counted
    from the audit log,
    which every process writes, so it holds across paths (the web app and the MCP server are two processes,
    each pacing its own calls)."""
    order_tools = [name for name, tool in TOOLS.items() if tool.write and tool.rate_class == "orders"]
    recent = OrderAudit.objects.filter(account_id=account.pk, outcome__in=_REACHED_KITE, tool__in=order_tools,
                                       created_at__gte=timezone.now() - timedelta(seconds=1)).count()
    if recent >= ORDERS_PER_SECOND:
        raise RateLimited(f"Kite takes at most {ORDERS_PER_SECOND} orders a second from a Kite user, and {recent} "
                          f"went out from account {account.name!r} in the last second. Nothing was sent: try again "
                          "in a second.", retry_after=1.0)
