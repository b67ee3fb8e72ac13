"""`python manage.py runticker`: Kite's ticker for every connected account, its ticks and order updates
pushed to the pages (kite.ticker, kite.live). Started by `make run` beside the web app.

Where the events go: with REDIS_URL, Redis pub/sub (every web process hears them); without, an HTTP POST
to the web app's `/kite/live/ingest` at `--web-url` (default APP_BASE_URL), signed with SECRET_KEY.

Modelled on Django's runserver: runs the system checks itself, closes the database connections they
opened, says in one line what it does and any error, exits 0 on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections


class Command(BaseCommand):
    help = ("Follow Kite's ticker for every connected account (its holdings' and positions' prices, its order "
            "updates) and push them to the pages.")
    requires_system_checks: list = []  # run below, as runserver does

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--web-url", default=None,
                            help="the web app to push events to when REDIS_URL is not set (default APP_BASE_URL)")
        parser.add_argument("--refresh", type=float, default=60.0,
                            help="seconds between re-reading the accounts and their instruments (default 60)")

    def handle(self, *args: Any, **options: Any) -> None:
        web_url = options["web_url"] or settings.APP_BASE_URL
        parts = urlsplit(web_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.stderr.write(f"Error: --web-url {web_url!r} is not an http(s):// URL.")
            sys.exit(1)
        if not 1 <= options["refresh"] <= 3600:
            self.stderr.write("Error: --refresh must be between 1 and 3600 seconds.")
            sys.exit(1)
        self.check(display_num_errors=False)
        for connection in connections.all(initialized_only=True):
            connection.close()

        from kite import live
        from kite.services import history
        from kite.ticker import TickerHub

        if settings.REDIS_URL:
            where = "Redis (REDIS_URL)"
        else:
            live.forward_to(f"{parts.scheme}://{parts.netloc}")
            where = f"the web app at {parts.scheme}://{parts.netloc}"

        def record_order(account_id: int, order: dict[str, Any]) -> None:
            from accounts.models import Account

            history.order_update_record(account=Account.objects.get(pk=account_id), order=order, source="ticker")

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        hub = TickerHub(publish_many=live.publish_many, record_order=record_order, refresh_seconds=options["refresh"],
                        say=say)
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        say(f"Kite ticker: following every connected account, events to {where}. Quit with CONTROL-C.")
        try:
            hub.start_reactor()
            hub.run(stop)
        except KeyboardInterrupt:
            pass
        finally:
            hub.stop_reactor()
            live.forward_to(None)
            connections.close_all()
        say("Kite ticker stopped.")
