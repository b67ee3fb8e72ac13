"""`make run`'s set-up: a demo user and a paper-trading account on the sandbox, one click from connected."""
from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts import services
from accounts.models import Account, Environment

DEMO_USERNAME = "demo"
DEMO_ACCOUNT = "Paper trading"


class Command(BaseCommand):
    help = "Make sure the demo user and its sandbox account exist, and print how to sign in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "kitedesk"),
                            help="the demo user's password (default: kitedesk, or $DEMO_PASSWORD)")

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        users = get_user_model()
        user, created = users.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True,
                                                                                      "is_superuser": True})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        account, _ = Account.objects.get_or_create(
            user=user, name=DEMO_ACCOUNT,
            defaults={"environment": Environment.SANDBOX, "trading_enabled": True, "confirm_orders": True},
        )
        problem = services.account_provision(account=account)
        if problem:
            self.stderr.write(f"Could not provision the paper account yet: {problem}")
        shown = password if created or user.check_password(password) else "(the password you set)"
        self.stdout.write(
            f"\n  Kite Desk is starting at {settings.APP_BASE_URL}/\n"
            f"  Sign in as  {DEMO_USERNAME} / {shown}\n"
            f"  Then press Connect on the '{DEMO_ACCOUNT}' account "
            f"(paper money, on the sandbox at {settings.KITE_SANDBOX_URL}).\n"
        )
