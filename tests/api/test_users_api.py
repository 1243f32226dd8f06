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


def test_users_are_changed_and_deleted_by_the_admin(client: TestClient, services: Services) -> None:
    ada = client.post("/users", json={"name": "Ada", "email": "ada@example.com"}, headers=ADMIN)
    bob = client.post("/users", json={"name": "Bob", "email": "bob@example.com"}, headers=ADMIN)
    ada_id, bob_id = ada.json()["user_id"], bob.json()["user_id"]
    as_ada = {"X-API-Key": ada.json()["api_key"]}
    job = client.post("/jobs", json={"type": "echo", "payload": {}}, headers=as_ada).json()
    # PATCH: name and/or email
    changed = client.patch(f"/users/{ada_id}", json={"name": "Ada L."}, headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["name"] == "Ada L."
    moved = client.patch(f"/users/{ada_id}", json={"email": "ada@lovelace.org"}, headers=ADMIN)
    assert moved.status_code == 200 and moved.json()["email"] == "ada@lovelace.org"
    # bad input: each its status, nothing written
    taken = client.patch(f"/users/{bob_id}", json={"email": "ADA@lovelace.org"}, headers=ADMIN)
    assert taken.status_code == 409 and "email" in taken.json()["detail"]
    assert taken.headers["content-type"] == "application/problem+json"
    twice = client.post("/users", json={"name": "A2", "email": "ada@lovelace.org"}, headers=ADMIN)
    assert twice.status_code == 409
    for body, status in (({}, 422), ({"email": "not-an-email"}, 422), ({"name": ""}, 422),
                         ({"name": "x", "role": "admin"}, 422)):  # fmt: skip
        answer = client.patch(f"/users/{bob_id}", json=body, headers=ADMIN)
        assert answer.status_code == status, (body, answer.text)
    assert client.get(f"/users/{bob_id}", headers=ADMIN).json()["email"] == "bob@example.com"
    assert client.patch("/users/nobody", json={"name": "N"}, headers=ADMIN).status_code == 404
    assert client.patch(f"/users/{ada_id}", json={"name": "me"}, headers=as_ada).status_code == 403
    assert client.delete(f"/users/{bob_id}", headers=as_ada).status_code == 403
    # DELETE: the keys stop working at once, the jobs stay readable by the admin
    assert client.delete(f"/users/{ada_id}", headers=ADMIN).status_code == 204
    assert client.get(f"/jobs/{job['job_id']}", headers=as_ada).status_code == 401
    assert client.get(f"/jobs/{job['job_id']}", headers=ADMIN).status_code == 200
    assert client.get(f"/users/{ada_id}", headers=ADMIN).status_code == 404
    assert client.delete(f"/users/{ada_id}", headers=ADMIN).status_code == 404
    # the email is free again
    again = client.post("/users", json={"name": "Ada", "email": "ada@lovelace.org"}, headers=ADMIN)
    assert again.status_code == 201
