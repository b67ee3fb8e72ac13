"""Settings of the sandbox server (`manage.py runsandbox`, `manage.py sandboxapp`,
`gunicorn sandbox.wsgi:application`), from the environment and the project's `.env`.

The sandbox is another company's server, simulated: it installs none of the app's apps and reads
only its own variables, plus the infrastructure every process shares (the database, logging,
hosts). Its database defaults to the app's file, so `make run` keeps one file for both: the app's
`migrate` (config.settings also installs `sandbox`) makes both sets of tables, and
`DJANGO_SETTINGS_MODULE=sandbox.settings manage.py migrate` makes the sandbox's alone. A value a
variable cannot take stops start-up with one line naming it (`config.env.StrictEnv`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import environ

from config.env import StrictEnv
from config.logfilters import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # the environment wins over the file
strict = StrictEnv(env)

DEBUG = False  # the sandbox answers Kite's envelopes, never Django's debug pages
# Optional here: the sandbox signs nothing a user keeps (no sessions, no cookies).
SECRET_KEY = env.str("SECRET_KEY", default="") or (
    "sandbox-dev-only-" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest())
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

KITE_SANDBOX_RATE_LIMITS = strict.bool("KITE_SANDBOX_RATE_LIMITS", default=True)
# `runsandbox --market-always-open` overrides this for its process (sandbox.conf).
KITE_SANDBOX_MARKET_ALWAYS_OPEN = strict.bool("KITE_SANDBOX_MARKET_ALWAYS_OPEN", default=False)
# Where a new paper app's login redirects unless it says otherwise: Kite Desk's callback.
APP_BASE_URL = strict.url("APP_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = ["sandbox"]

MIDDLEWARE = [
    "sandbox.middleware.KiteErrorEnvelopeMiddleware",  # outermost: sees every answer last
    "django.middleware.security.SecurityMiddleware",
    # Sets Content-Length, without which the development server closes keep-alive connections.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # the login page is not to be framed
]

ROOT_URLCONF = "sandbox.urls"
WSGI_APPLICATION = "sandbox.wsgi.application"

TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

# Its own database (another company's server): by default a file of its own beside the app's, so the
# app's writes and the paper engine's never wait on one SQLite lock (`runsandbox` migrates it itself).
DATABASES = {"default": strict.db("KITE_SANDBOX_DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'sandbox.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = int(strict.number("CONN_MAX_AGE", default=60, minimum=0, maximum=86400))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The sandbox's threads share its file: wait for a lock instead of failing, and let readers run
    # beside a writer (the same options as config.settings).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

TIME_ZONE = "Asia/Kolkata"
USE_TZ = True
USE_I18N = False

LOG_LEVEL = strict.choice("LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = logging_settings(LOG_LEVEL)
