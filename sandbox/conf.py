"""The sandbox's run-time options: what its settings say, unless `runsandbox` was told otherwise.

The settings (`sandbox.settings`, read strictly from the environment at start-up) give the
defaults; `runsandbox --market-always-open` sets the process's own option here, so the command
line never rewrites `django.conf.settings` or `os.environ`. Read on every use, not at import: the
in-process tests run under the app's settings and change these with pytest-django's `settings`.
"""
from __future__ import annotations

from django.conf import settings

_market_always_open: bool | None = None  # None: as the settings say


def market_always_open() -> bool:
    """Whether the paper market is open around the clock (KITE_SANDBOX_MARKET_ALWAYS_OPEN, or
    `runsandbox --market-always-open`)."""
    if _market_always_open is not None:
        return _market_always_open
    return bool(getattr(settings, "KITE_SANDBOX_MARKET_ALWAYS_OPEN", False))


def market_always_open_set(value: bool | None) -> None:
    """Override the settings for this process (None: back to what they say)."""
    global _market_always_open
    _market_always_open = value


def rate_limits_enabled() -> bool:
    """Whether calls past Kite's rate limits are answered 429 (KITE_SANDBOX_RATE_LIMITS)."""
    return bool(getattr(settings, "KITE_SANDBOX_RATE_LIMITS", True))
