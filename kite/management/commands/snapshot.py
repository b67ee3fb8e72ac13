"""`manage.py snapshot`: keep what Kite forgets overnight. For each connected account, the day's orders,
trades and holdings are read through the tool registry and stored (kite.services.history); run it after the
close every trading day (cron, a systemd timer). Idempotent: a second run the same day changes nothing."""
from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Account, Status
from kite.errors import ServiceError
from kite.history import parse_day
from kite.ist import IST
from kite.services.history import account_snapshot


class Command(BaseCommand):
    help = ("Store each connected account's orders, trades and end-of-day holdings (Kite keeps them for the "
            "current day only). Exit status 1 when an account could not be read.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", type=int, metavar="ID", help="only this account (its id)")
        parser.add_argument("--date", metavar="YYYY-MM-DD",
                            help="the day to file the holdings snapshot under (default: today, IST). Kite "
                                 "answers with what it holds now, so give a past day only for a run that was "
                                 "missed that evening, before the next session opens")

    def handle(self, *args: Any, account: int | None = None, date: str | None = None, **options: Any) -> None:
        day = self._day(date)
        if account is not None:
            accounts = list(Account.objects.filter(pk=account).select_related("user"))
            if not accounts:
                raise CommandError(f"No account with id {account}.")
        else:
            accounts = list(Account.objects.select_related("user").order_by("id"))
        failed = 0
        for item in accounts:
            status = item.status
            if account is None and status in (Status.NEEDS_CREDENTIALS, Status.NEEDS_LOGIN):
                self.stdout.write(f"{item.name} (id {item.pk}): skipped, never connected ({status}).")
                continue
            try:
                result = account_snapshot(account=item, day=day)
            except ServiceError as error:
                failed += 1
                self.stderr.write(f"{item.name} (id {item.pk}): not stored: {error.message}")
                continue
            self.stdout.write(result.line())
        if failed:
            raise CommandError(f"{failed} of {len(accounts)} account(s) could not be read; nothing was stored for "
                               f"{'it' if failed == 1 else 'them'}.")

    @staticmethod
    def _day(value: str | None) -> date:
        today = timezone.now().astimezone(IST).date()
        if value is None:
            return today
        try:
            day = parse_day(value, "--date")
        except ValueError as error:
            raise CommandError(str(error)) from None
        if day > today:
            raise CommandError(f"--date {day} is in the future (today is {today}, IST).")
        return day
