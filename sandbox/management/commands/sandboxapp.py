"""`python manage.py sandboxapp`: a sandbox app and its paper user. The last line of stdout is the
JSON `{"api_key": "...", "api_secret": "..."}`."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from sandbox.clock import clock_now
from sandbox.errors import KiteError
from sandbox.users import StartingHolding, app_create, default_redirect_url


def _holding(text: str) -> StartingHolding:
    parts = text.strip().split(":")
    if len(parts) not in (3, 4) or not parts[2].isdigit():
        raise CommandError(f"Invalid --holding {text!r}: EXCHANGE:SYMBOL:QUANTITY[:AVERAGE_PRICE], e.g. NSE:INFY:10")
    try:
        average = Decimal(parts[3]) if len(parts) == 4 else None
    except InvalidOperation:
        raise CommandError(f"Invalid average price in --holding {text!r}.") from None
    return StartingHolding(f"{parts[0].upper()}:{parts[1].upper()}", int(parts[2]), average)


class Command(BaseCommand):
    help = "Create a sandbox Kite app (api_key, api_secret) and its paper-trading user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--redirect-url", default=None,
                            help=f"where the login redirects (default {default_redirect_url()})")
        parser.add_argument("--user-name", default="", help="the paper user's name")
        parser.add_argument("--cash", default=None, help="starting cash (default 1000000)")
        parser.add_argument("--holding", action="append", default=None, metavar="EXCHANGE:SYMBOL:QTY[:PRICE]",
                            help="a starting holding (repeat; replaces the default portfolio)")
        parser.add_argument("--no-holdings", action="store_true", help="start without holdings")

    def handle(self, *args: Any, **options: Any) -> None:
        holdings = [] if options["no_holdings"] else (
            [_holding(h) for h in options["holding"]] if options["holding"] else None)
        try:
            cash = Decimal(options["cash"]) if options["cash"] is not None else None
        except InvalidOperation:
            raise CommandError(f"Invalid --cash {options['cash']!r}: a number.") from None
        try:
            app = app_create(now=clock_now(), redirect_url=options["redirect_url"], user_name=options["user_name"],
                             starting_cash=cash, holdings=holdings)
        except KiteError as exc:
            raise CommandError(exc.message) from None
        except DatabaseError as exc:
            raise CommandError(f"The database is not ready ({exc}); run `python manage.py migrate` first.") from None
        self.stdout.write(f"Created sandbox app for paper user {app.user.user_id} ({app.user.user_name}); "
                          f"login redirects to {app.redirect_url}")
        self.stdout.write(json.dumps({"api_key": app.api_key, "api_secret": app.api_secret}))
