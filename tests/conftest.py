from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytest_plugins: list[str] = []


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob")


@pytest.fixture
def api_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def other_client(other_user) -> APIClient:
    client = APIClient()
    client.force_login(other_user)
    return client
