"""WSGI entry point of the sandbox (`gunicorn sandbox.wsgi:application`; `manage.py runsandbox`).

Always the sandbox's own settings (`sandbox.settings`), whatever DJANGO_SETTINGS_MODULE says for
the app: the sandbox is a server of its own, and the app's settings would route every request to
the app's pages.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
application = get_wsgi_application()
