"""WSGI entry point of the web app (gunicorn config.wsgi:application; `make serve`).

It refuses to load on a configuration the system checks reject (config.startup).
"""
from django.core.wsgi import get_wsgi_application

from config.startup import checked_application

application = checked_application(get_wsgi_application)
