"""ASGI entry point of the web app. It refuses to load on a configuration the checks reject (config.startup)."""
from django.core.asgi import get_asgi_application

from config.startup import checked_application

application = checked_application(get_asgi_application)
