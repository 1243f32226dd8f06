from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from tests.conftest import ADMIN_KEY

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def new_user(client: TestClient, name: str = "Ada") -> dict[str, str]:
    """Create a user through the API; return headers carrying their key."""
    response = client.post(
        "/users", json={"name": name, "email": f"{name.lower()}@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["api_key"]}


@pytest.fixture
def alice(client: TestClient) -> dict[str, str]:
    return new_user(client, "Alice")


@pytest.fixture
def bob(client: TestClient) -> dict[str, str]:
    return new_user(client, "Bob")
