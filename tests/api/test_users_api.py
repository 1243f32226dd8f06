"""Users and keys over HTTP: admin creates, users read only themselves, keys rotate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jobgate.bootstrap import Services
from tests.api.conftest import ADMIN


def test_admin_creates_a_user_and_the_key_is_shown_once(
    client: TestClient, services: Services
) -> None:
    response = client.post(
        "/users",
        json={"user_id": "user-123", "name": "John Doe", "email": "john@example.com"},
        headers=ADMIN,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == "user-123" and body["api_key"].startswith("jg_")
    assert response.headers["location"] == "/users/user-123"
    # only the hash is stored
    (key,) = services.backend.users.list_keys("user-123")
    assert body["api_key"] not in key.key_hash
    me = client.get("/users/user-123", headers={"Authorization": f"Bearer {body['api_key']}"})
    assert me.status_code == 200 and "api_key" not in me.json()


def test_user_creation_needs_the_admin_and_valid_fields(
    client: TestClient, services: Services
) -> None:
    user = client.post("/users", json={"name": "A", "email": "a@example.com"}, headers=ADMIN).json()
    as_user = {"X-API-Key": user["api_key"]}
    assert (
        client.post(
            "/users", json={"name": "B", "email": "b@example.com"}, headers=as_user
        ).status_code
        == 403
    )
    assert client.post("/users", json={"name": "B", "email": "b@example.com"}).status_code == 401
    assert (
        client.post(
            "/users", json={"name": "B", "email": "not-an-email"}, headers=ADMIN
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/users", json={"name": "", "email": "b@example.com"}, headers=ADMIN
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/users", json={"name": "B", "email": "b@example.com", "admin": True}, headers=ADMIN
        ).status_code
        == 422
    )
    taken = client.post(
        "/users",
        json={"user_id": user["user_id"], "name": "B", "email": "b@example.com"},
        headers=ADMIN,
    )
    assert taken.status_code == 409
    assert len(services.backend.users.list_users().items) == 1


def test_users_read_only_their_own_record(client: TestClient) -> None:
    a = client.post("/users", json={"name": "A", "email": "a@example.com"}, headers=ADMIN).json()
    b = client.post("/users", json={"name": "B", "email": "b@example.com"}, headers=ADMIN).json()
    as_a = {"X-API-Key": a["api_key"]}
    assert client.get(f"/users/{a['user_id']}", headers=as_a).status_code == 200
    assert client.get(f"/users/{b['user_id']}", headers=as_a).status_code == 404
    assert client.get("/users", headers=as_a).status_code == 403
    listed = client.get("/users", headers=ADMIN).json()["users"]
    assert {u["user_id"] for u in listed} == {a["user_id"], b["user_id"]}


def test_keys_can_be_issued_and_revoked(client: TestClient) -> None:
    user = client.post("/users", json={"name": "A", "email": "a@example.com"}, headers=ADMIN).json()
    old = {"X-API-Key": user["api_key"]}
    issued = client.post(f"/users/{user['user_id']}/keys", headers=old)
    assert issued.status_code == 201
    new = {"X-API-Key": issued.json()["api_key"]}
    assert (
        client.delete(f"/users/{user['user_id']}/keys/{user['key_id']}", headers=new).status_code
        == 204
    )
    assert client.get("/jobs", headers=old).status_code == 401
    assert client.get("/jobs", headers=new).status_code == 200
    keys = client.get(f"/users/{user['user_id']}/keys", headers=new).json()
    assert [k["revoked_at"] is not None for k in keys] == [True, False]
