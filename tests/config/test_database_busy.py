"""On PostgreSQL the app's connections come from psycopg's pool (config/settings.py, DATABASE_POOL_SIZE). A
request that gets no connection in the pool's time is answered 503 `database_busy` with Retry-After, saying
what happened, not a 500. The pool here is a real one, on Django's own PostgreSQL backend, pointed at a port
where no server listens: its wait for a connection times out exactly as an exhausted pool's does."""
from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from config.api import exception_handler


def test_no_connection_from_the_pool_in_time_is_a_503_database_busy(db):  # db: pytest-django lets it connect
    # Its own alias: Django keeps one pool per alias for the process, and "default" is the test database's.
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, "nowhere": {
        "ENGINE": "django.db.backends.postgresql", "NAME": "kd", "USER": "kd", "HOST": "127.0.0.1", "PORT": "1",
        "CONN_MAX_AGE": 0, "OPTIONS": {"pool": {"min_size": 0, "max_size": 1, "timeout": 0.5}}}})
    connection = handler["nowhere"]
    try:
        with pytest.raises(OperationalError) as failed:
            connection.ensure_connection()
    finally:
        connection.close_pool()
    response = exception_handler(failed.value, {})
    assert response is not None and response.status_code == 503
    assert response.data["error"]["type"] == "database_busy"
    assert "DATABASE_POOL_SIZE" in response.data["error"]["message"]
    assert response["Retry-After"] == "5"


def test_other_database_errors_stay_djangos_500():
    assert exception_handler(OperationalError("disk I/O error"), {}) is None
