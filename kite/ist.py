"""Kite's clock: India Standard Time, the daily 06:00 token flush, and how every answer writes a time."""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
TOKEN_FLUSH = clock_time(6, 0)


def token_expiry(login_time: datetime) -> datetime:
    """Kite flushes every access token at the next 06:00 IST after the login: a 03:00 login ends at
    06:00 the same morning, a 10:00 login at 06:00 the next morning (kite/API.md, "Session")."""
    local = login_time.astimezone(IST)
    flush = datetime.combine(local.date(), TOKEN_FLUSH, tzinfo=IST)
    return flush if local < flush else flush + timedelta(days=1)


def iso_ist(moment: datetime | None) -> str | None:
    """A time as every answer gives it: ISO 8601 in IST, e.g. 2026-12-04T06:00:00+05:30."""
    return moment.astimezone(IST).isoformat() if moment is not None else None
