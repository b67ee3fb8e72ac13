"""WSGI entry point of the sandbox (`gunicorn sandbox.wsgi:application`, or `manage.py runsandbox`).

Same settings module as the web app; every request is routed with `sandbox.urls`. Whatever answers
an error without coming from a sandbox view (a middleware, Django itself) is turned into Kite's
JSON error envelope, so a client never sees an HTML error page or a traceback.
"""
from __future__ import annotations

import os

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse

from sandbox.errors import STATUS_ERROR_TYPES, error_response

_MESSAGES = {400: "Bad request.", 403: "Forbidden.", 404: "Route not found", 405: "Method not allowed",
             413: "The request is too large."}


class SandboxWSGIHandler(WSGIHandler):
    def get_response(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = "sandbox.urls"
        response = super().get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and "json" not in content_type and not getattr(response, "sandbox_page",
                                                                                      False):
            status = response.status_code
            return error_response(_MESSAGES.get(status, "Something went wrong in the sandbox (see its log)."),
                                  STATUS_ERROR_TYPES.get(status, "GeneralException"), status)
        return response


def get_sandbox_application() -> SandboxWSGIHandler:
    django.setup(set_prefix=False)
    return SandboxWSGIHandler()


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_sandbox_application()
