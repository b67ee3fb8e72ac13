"""WSGI entry point of the sandbox: Kite Connect v3 over HTTP, without the ticker.

`manage.py runsandbox` serves it behind `sandbox.asgi` (with the ticker, on uvicorn). Served on its
own, `gunicorn sandbox.wsgi:application --limit-request-line 0`: gunicorn's default request line
(4094 bytes, at most 8190) is too short for Kite's 500-instrument quotes and 1000-instrument ltp/ohlc.

Always the sandbox's own settings (`sandbox.settings`), whatever DJANGO_SETTINGS_MODULE says for
the app: the sandbox is a server of its own, and the app's settings would route every request to
the app's pages.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
application = get_wsgi_application()
