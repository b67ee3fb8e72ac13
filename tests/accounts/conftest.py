from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def admin_client(db) -> Client:
    """A superuser signed in to the admin (pytest-django's own, made with the project's factory)."""
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client
