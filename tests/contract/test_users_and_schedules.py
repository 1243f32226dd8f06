"""Contract: users and keys (UserStore), schedule state (ScheduleStore)."""

from __future__ import annotations

import time

import pytest

from jobgate.domain.models import ApiKey, ScheduleState, User
from jobgate.errors import Conflict, NotFound
from jobgate.ports import Backend


def test_users_create_get_list_and_conflict(backend: Backend) -> None:
    for name in ("b", "a", "c"):
        backend.users.create_user(User(f"user-{name}", name.upper(), f"{name}@x.io", time.time()))
    found = backend.users.get_user("user-a")
    assert found is not None and (found.user_id, found.name, found.email) == (
        "user-a",
        "A",
        "a@x.io",
    )
    assert found.created_at == pytest.approx(time.time(), abs=5)
    with pytest.raises(Conflict):
        backend.users.create_user(User("user-a", "again", "a@x.io", time.time()))
    first = backend.users.list_users(limit=2)
    rest = backend.users.list_users(first.cursor, limit=2)
    assert [u.user_id for u in first.items + rest.items] == ["user-a", "user-b", "user-c"]
    assert rest.cursor is None
    assert backend.users.get_user("nobody") is None


def test_an_email_belongs_to_one_user_and_users_change_and_go(backend: Backend) -> None:
    ada = User("ada", "Ada", "ada@x.io", time.time())
    backend.users.create_user(ada)
    with pytest.raises(Conflict, match="email"):  # the same email, in another case
        backend.users.create_user(User("bob", "Bob", "ADA@x.io", time.time()))
    assert backend.users.get_user("bob") is None  # nothing half-written
    bob = User("bob", "Bob", "bob@x.io", time.time())
    backend.users.create_user(bob)
    # a change of name and email moves the email; the old one is free again
    moved = User("ada", "Ada L.", "lovelace@x.io", ada.created_at)
    backend.users.update_user(moved, ada)
    assert backend.users.get_user("ada") == moved
    backend.users.create_user(User("carol", "Carol", "ada@x.io", time.time()))
    with pytest.raises(Conflict, match="email"):
        backend.users.update_user(User("bob", "Bob", "Lovelace@x.io", bob.created_at), bob)
    assert backend.users.get_user("bob") == bob
    with pytest.raises(NotFound):
        backend.users.update_user(
            User("nobody", "N", "n@x.io", 0.0), User("nobody", "N", "m@x.io", 0.0)
        )
    # deleting revokes every key and frees the email
    backend.users.add_key(ApiKey("k1", "bob", "hash-bob", time.time()))
    assert backend.users.delete_user("bob", 123.0) is True
    assert backend.users.get_user("bob") is None
    key = backend.users.find_key("hash-bob")
    assert key is not None and key.revoked_at == 123.0
    assert backend.users.delete_user("bob", 124.0) is False
    backend.users.create_user(User("bob2", "Bob", "bob@x.io", time.time()))


def test_keys_are_found_by_hash_and_revoked(backend: Backend) -> None:
    backend.users.create_user(User("u1", "U", "u@x.io", time.time()))
    backend.users.add_key(ApiKey("k1", "u1", "hash-1", time.time()))
    key = backend.users.find_key("hash-1")
    assert key is not None and (key.key_id, key.user_id, key.key_hash) == ("k1", "u1", "hash-1")
    assert key.created_at == pytest.approx(time.time(), abs=5) and key.revoked_at is None
    assert backend.users.revoke_key("u1", "k1", time.time()) is True
    assert backend.users.revoke_key("u1", "k1", time.time()) is False
    found = backend.users.find_key("hash-1")
    assert found is not None and found.revoked_at is not None
    assert [k.key_id for k in backend.users.list_keys("u1")] == ["k1"]
    assert backend.users.find_key("unknown") is None


def test_schedule_state_advances_by_compare_and_set(backend: Backend) -> None:
    fresh = backend.schedules.get_state("s")
    assert fresh == ScheduleState("s", None, 0, 0)
    assert backend.schedules.advance(fresh, 60.0, 0) is True
    assert backend.schedules.advance(fresh, 60.0, 0) is False  # someone else moved first
    now = backend.schedules.get_state("s")
    assert (now.last_tick, now.version) == (60.0, 1)
    assert backend.schedules.advance(now, 120.0, 2) is True
    assert backend.schedules.advance(now, 120.0, 2) is False
    assert backend.schedules.get_state("s").missed == 2
