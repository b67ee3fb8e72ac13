"""Settings for the test suite: the project's settings with fixed test keys.

DATABASE_URL still comes from the environment, so the same suite runs on SQLite (default) and on
PostgreSQL (`.ci/run` runs it twice). The app's servers that tests start in subprocesses (`runmcp`)
get the same module; the sandbox runs under its own (`sandbox.settings`, tests/fixtures/sandbox.py).
"""
import os

# Fixed, public test keys: never used outside tests. Set before the settings read the environment,
# so a developer's .env cannot leak into a test run.
os.environ["SECRET_KEY"] = "test-secret-key-not-for-production-0123456789abcdef"
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "3bwUV6TdNJ0TpWnfUSrPvp8bBWS4sjWfnt0J3cXnsFQ=")
os.environ["DEBUG"] = "off"
os.environ.setdefault("KITE_RATE_LIMITS", "off")

from config.settings import *  # noqa: E402,F403
from config.settings import BASE_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: servers started by the tests in other processes must see the same data.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_SQLITE_PATH", str(BASE_DIR / "test-db.sqlite3"))}
