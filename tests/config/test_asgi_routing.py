"""config.asgi's router: a URL whose view is async goes to Django's ASGI handler (it streams); any other to the
WSGI handler on the thread pool. Read from the URLconf, so a new async view is routed right by itself."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db  # importing config.asgi runs the start-up checks, the database's included


def test_only_async_views_go_to_djangos_asgi_handler():
    from config.asgi import is_async_view

    assert is_async_view("/kite/stream")
    for path in ("/login/", "/api/kite/execute", "/portfolio/", "/kite/postback", "/no/such/page/"):
        assert not is_async_view(path), path
