"""Settings, read from the environment (and a `.env` beside manage.py) with django-environ.

CONTRACT.md section 2 lists every variable; the README's configuration table mirrors it.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF

from config.env import StrictEnv
from config.logfilters import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file, so a test run or a shell can override it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
strict = StrictEnv(env)

DEBUG = strict.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    # Only a DEBUG run may go without one; `make run` writes a real one to .env.
    SECRET_KEY = "insecure-dev-only-" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()
# Earlier keys, still accepted while SECRET_KEY is rotated (Django's sessions and signing, and the sealed
# requestState of an MCP confirmation that was asked before the rotation).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

APP_BASE_URL = strict.url("APP_BASE_URL", default="http://127.0.0.1:8000")
KITE_API_ROOT = strict.url("KITE_API_ROOT", default="https://api.kite.trade")
KITE_LOGIN_URL = strict.url("KITE_LOGIN_URL", default="https://kite.zerodha.com/connect/login")
KITE_SANDBOX_URL = strict.url("KITE_SANDBOX_URL", default="http://127.0.0.1:8765")
KITE_RATE_LIMITS = strict.bool("KITE_RATE_LIMITS", default=True)
KITE_TIMEOUT_SECONDS = strict.number("KITE_TIMEOUT_SECONDS", default=7.0, minimum=0.5, maximum=120)
# How long an order waiting for approval in the web app may be approved (CONTRACT section 8).
KITE_APPROVAL_TTL_SECONDS = int(strict.number("KITE_APPROVAL_TTL_SECONDS", default=600, minimum=30, maximum=86400))
KITE_MCP_USER = env.str("KITE_MCP_USER", default="")
KITE_MCP_ACCOUNTS = env.list("KITE_MCP_ACCOUNTS", default=[])
# The sandbox reads its own variables (KITE_SANDBOX_RATE_LIMITS, KITE_SANDBOX_MARKET_ALWAYS_OPEN)
# in sandbox/settings.py: it runs under those settings, not these.


# --- Credentials at rest -------------------------------------------------------------------------
# FIELD_ENCRYPTION_KEY is one Fernet key or a comma-separated list (the first encrypts, all decrypt).
# A bad value never crashes the import with a traceback: it is recorded here and reported by the
# `accounts` system check (which stops start-up), and the encrypted fields refuse to work with it.
def _parse_fernet_keys(raw: str) -> tuple[list[str], str]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        return [], "FIELD_ENCRYPTION_KEY is not set."
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            return [], (
                f"FIELD_ENCRYPTION_KEY key #{position} is not a valid Fernet key "
                "(it must be 32 url-safe base64-encoded bytes, e.g. from "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
            )
    return keys, ""


FIELD_ENCRYPTION_KEYS, FIELD_ENCRYPTION_KEY_ERROR = _parse_fernet_keys(env.str("FIELD_ENCRYPTION_KEY", default=""))
FIELD_ENCRYPTION_KEY_IS_DEV_FALLBACK = False
if not FIELD_ENCRYPTION_KEYS and DEBUG and FIELD_ENCRYPTION_KEY_ERROR == "FIELD_ENCRYPTION_KEY is not set.":
    # DEBUG without a key: derive a stable one from SECRET_KEY so a dev database stays readable.
    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
    FIELD_ENCRYPTION_KEY_ERROR = ""
    FIELD_ENCRYPTION_KEY_IS_DEV_FALLBACK = True
# django-encrypted-model-fields builds its own crypter from this at import time; it must parse even
# when ours did not (the project's fields use FIELD_ENCRYPTION_KEYS and refuse to run on an error).
FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEYS or [Fernet.generate_key().decode()]


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its `runserver` (the ASGI app under uvicorn, /mcp included) wins over theirs.
    "mcp_bridge.remote",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # hashed, expiring API tokens (accounts.tokens)
    "drf_spectacular",
    "axes",
    "encrypted_model_fields",
    "oauth2_provider",  # django-oauth-toolkit: the OAuth 2.1 server of /mcp (mcp_bridge.remote)
    "accounts",
    "kite",
    "mcp_bridge",
    "sandbox",
]

MIDDLEWARE = [
    # Outermost, so that Django's own error answers under /api/ (bad Host, unknown URL, 500) get it too.
    "config.api.ApiNoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT (filled by `collectstatic`, which `make serve` runs) without a
    # separate web server; with DEBUG on it serves them straight from static/ and the apps.
    "config.middleware.StaticFilesMiddleware",  # WhiteNoise, able to run async too
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kite.context_processors.pending_approvals",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": strict.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = int(strict.number("CONN_MAX_AGE", default=60, minimum=0, maximum=86400))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL: connections come from psycopg's pool, at most DATABASE_POOL_SIZE per process (Django's advice under
# ASGI; above config.threaded.WEB_THREADS, so the web pool's threads never wait for one). Each request returns its
# connection to the pool. DATABASE_POOL_SIZE=0: no pool, connections kept CONN_MAX_AGE seconds.
DATABASE_POOL_SIZE = strict.integer("DATABASE_POOL_SIZE", default=20, minimum=0, maximum=1000)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # CONN_HEALTH_CHECKS (on): the pool checks a connection before lending it.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_SIZE,
        "timeout": 10,  # seconds a request waits for a free connection (then the API answers 503 database_busy)
        "max_idle": 300,  # idle connections beyond min_size close after five minutes
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, sandbox, MCP) share one file: wait for a lock instead of failing,
    # and let readers run beside a writer. Connections are kept (CONN_MAX_AGE) as on PostgreSQL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

# --- Django's cache: where Kite's rate limits and the client-cache invalidation are shared -------------
# With REDIS_URL, Redis (Django's own backend): every process and every machine that shares it paces
# Kite's per-key limits together. Without it, local memory: right for one process (make run, runmcp).
REDIS_URL = strict.redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kitedesk",
        # A Redis that stops answering is an error within seconds (kite.ratelimit says so), not a hung request.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "kite-desk"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
FORMAT_MODULE_PATH = ["config.formats"]  # Indian digit grouping: ₹1,00,895.90
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = strict.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies beside the files; not the manifest storage, whose {% static %} fails outright
    # (every page a 500) when collectstatic has not run, e.g. in the test suite.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

CSRF_FAILURE_VIEW = "config.api.api_aware_csrf_failure"  # the API's error body under /api/

# --- Sign-in limits (django-axes) -------------------------------------------------------------------
# After SIGNIN_FAILURE_LIMIT failed sign-ins for one username, or from one IP address, sign-in (the
# login page and the admin's) is refused for SIGNIN_COOLOFF_MINUTES, whether or not the username exists.
# A failure is forgotten SIGNIN_COOLOFF_MINUTES after the last one. API tokens never sign in, so they
# are not affected. The IP is REMOTE_ADDR: behind a proxy every client shares the proxy's.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses before any password is checked
    "django.contrib.auth.backends.ModelBackend",
]
SIGNIN_FAILURE_LIMIT = strict.integer("SIGNIN_FAILURE_LIMIT", default=5, minimum=1, maximum=1000)
SIGNIN_COOLOFF_MINUTES = strict.integer("SIGNIN_COOLOFF_MINUTES", default=15, minimum=1, maximum=7 * 24 * 60)
AXES_FAILURE_LIMIT = SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks: a username, or an address
AXES_RESET_ON_SUCCESS = True
# A fixed pause: attempts during it do not extend it (they are refused without a password check).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.api.signin_lockout"
AXES_DISABLE_ACCESS_LOG = True  # keep failures only, not a row per successful sign-in

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous caller then gets 401 with `WWW-Authenticate: Token`, not 403.
        "accounts.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON nested deeper than config.api.MAX_JSON_DEPTH is a 400, not a RecursionError (a 500).
    "DEFAULT_PARSER_CLASSES": ["config.api.BoundedJSONParser", "rest_framework.parsers.FormParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# API tokens (django-rest-knox): only a hash of each is stored; each expires API_TOKEN_TTL_DAYS after it is
# made (`python manage.py drf_create_token USERNAME`). Sent as `Authorization: Token <key>`, as before.
API_TOKEN_TTL_DAYS = strict.integer("API_TOKEN_TTL_DAYS", default=90, minimum=1, maximum=3650)
REST_KNOX = {"TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS), "AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}

# GET /api/schema/ (drf-spectacular). Public, as is drf-spectacular's default: it describes the routes
# (as the README does), never anyone's data.
SPECTACULAR_SETTINGS = {
    "TITLE": "Kite Desk API",
    "DESCRIPTION": "Kite Connect accounts, logins and tools. Every error answers "
                   '`{"error": {"type", "message", "fields"?}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PARSER_WHITELIST": ["config.api.BoundedJSONParser"],  # the documented bodies are JSON
    "ENUM_NAME_OVERRIDES": {
        "EnvironmentEnum": "accounts.models.Environment",
        "AccountStatusEnum": "accounts.models.Status",
        "ApprovalStatusEnum": "kite.models.Approval.Status",
        "ConnectedStatusEnum": ["connected"],
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.schema_error_responses"],
}

# --- OAuth 2.1 for the remote MCP server (/mcp; CONTRACT section 9), django-oauth-toolkit -----------------
# Authorization code + PKCE S256 only, public clients (dynamic registration, RFC 7591), tokens stored as
# SHA-256 checksums only (RFC 9700 token storage), short-lived access tokens with rotating refresh tokens.
OAUTH_ACCESS_TOKEN_SECONDS = strict.integer("OAUTH_ACCESS_TOKEN_SECONDS", default=3600, minimum=60, maximum=86400)
OAUTH_REFRESH_TOKEN_DAYS = strict.integer("OAUTH_REFRESH_TOKEN_DAYS", default=30, minimum=1, maximum=365)
OAUTH2_PROVIDER = {
    "SCOPES": {
        "kite:read": "Read your Kite accounts: holdings, positions, orders, margins, quotes",
        "kite:trade": "Propose orders (place, modify, cancel); each one still needs your confirmation",
    },
    "DEFAULT_SCOPES": ["kite:read"],
    "READ_SCOPE": "kite:read",
    "WRITE_SCOPE": "kite:trade",
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_DAYS * 86400,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],  # http only for loopback: mcp_bridge.remote.views
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # "plain" refused
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # only a checksum of each token is stored
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),  # anyone may register;
    # only a signed-in user's consent gives a client a token
    "CIMD_ENABLED": True,  # a client may use the https URL of its metadata document as its client_id
    "CIMD_METADATA_FETCHER": "mcp_bridge.remote.views.PolicyMetadataFetcher",
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none"],
    # The issuer and the resource are the public URL, whatever Host a proxy passes on.
    "OIDC_ISS_ENDPOINT": APP_BASE_URL,
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": f"{APP_BASE_URL}/mcp",
    "OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS": [APP_BASE_URL],
    "OAUTH2_PROTECTED_RESOURCE_NAME": "Kite Desk MCP",
}

LOG_LEVEL = strict.choice("LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = logging_settings(LOG_LEVEL, loggers={
    # urllib3 logs full URLs at DEBUG, and Kite's logout URL carries the access token.
    "urllib3": {"level": "WARNING"},
    # pykiteconnect logs whole responses at DEBUG, generate_session's access token included.
    "kiteconnect": {"level": "WARNING"},
    "django.utils.autoreload": {"level": "WARNING"},  # runserver says it itself
    "axes.apps": {"level": "WARNING"},  # its start-up banner on every command; lockouts still log
})

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = False


# --- Production: HTTPS, cookies, the proxy in front, the browser's content policy ------------------
# All off by default, so plain-HTTP setups (make run, the tests, a loopback deployment) work unchanged;
# cookies turn Secure by themselves once the public URL is https and DEBUG is off.
_PUBLIC = urlsplit(APP_BASE_URL)
_SERVED_OVER_HTTPS = _PUBLIC.scheme == "https" and not DEBUG
SECURE_HSTS_SECONDS = strict.integer("SECURE_HSTS_SECONDS", default=0, minimum=0, maximum=2 * 365 * 86400)
SECURE_SSL_REDIRECT = strict.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = strict.bool("SESSION_COOKIE_SECURE", default=_SERVED_OVER_HTTPS)
CSRF_COOKIE_SECURE = strict.bool("CSRF_COOKIE_SECURE", default=_SERVED_OVER_HTTPS)
# Only behind a proxy that sets X-Forwarded-Proto itself (and drops the client's): otherwise any
# client could claim https.
TRUST_X_FORWARDED_PROTO = strict.bool("TRUST_X_FORWARDED_PROTO", default=False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A POST from the public origin passes Django's Origin check even when the proxy rewrites the Host.
CSRF_TRUSTED_ORIGINS = [f"{_PUBLIC.scheme}://{_PUBLIC.netloc}"]

# Content-Security-Policy (django-csp): scripts and styles only from our own static files, so an
# injected <script> or inline handler does not run. The pages have none (static/app.js does it all);
# data: images are the inline SVG favicon in base.html. No form-action: "Connect" posts to us and is
# redirected to Kite's login page, which form-action would block in Chromium.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "connect-src": [SELF],  # fetch() of the portfolio and the pages' EventSource (/kite/stream): ours only
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}
