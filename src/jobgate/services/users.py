"""Users, API keys and authentication.

A key is shown once, when issued: ``jg_<key id>_<secret>``. Only its sha256 is stored, so a
leaked database holds no usable key. The admin key comes from ``JOBGATE_ADMIN_KEY`` (or the file
``JOBGATE_ADMIN_KEY_FILE`` names) and is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from jobgate.domain.ids import new_id
from jobgate.domain.models import ApiKey, Page, User
from jobgate.errors import Forbidden, NotFound, Unauthorized
from jobgate.ports import Backend

ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, or the admin (who owns the jobs they submit as ``admin``)."""

    owner: str
    is_admin: bool = False
    key_id: str | None = None

    @property
    def scope(self) -> str | None:
        """The owner filter for reads: the admin sees every owner's jobs."""
        return None if self.is_admin else self.owner


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class UserService:
    def __init__(
        self,
        backend: Backend,
        admin_key: str | None,
        clock: Callable[[], float] = time.time,
        key_cache_seconds: float = 5.0,
    ) -> None:
        self._b = backend
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._clock = clock
        # Valid keys are remembered briefly so a busy client costs no lookup per request. A
        # revocation here clears the cache at once; another process notices within the TTL.
        self._cache_ttl = key_cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}

    def create_user(self, name: str, email: str, user_id: str | None = None) -> tuple[User, str]:
        """Create a user and their first API key; the raw key is returned only here."""
        user = User(user_id or new_id(), name, email, self._clock())
        self._b.users.create_user(user)
        return user, self.issue_key(user.user_id)

    def get_user(self, user_id: str) -> User:
        user = self._b.users.get_user(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return user

    def update_user(self, user_id: str, name: str | None, email: str | None) -> User:
        """Change a user's name and/or email (Conflict: the email is another user's)."""
        before = self.get_user(user_id)
        after = replace(
            before,
            name=before.name if name is None else name,
            email=before.email if email is None else email,
        )
        if after != before:
            self._b.users.update_user(after, before)
        return after

    def delete_user(self, user_id: str) -> None:
        """Remove the user and revoke every key of theirs at once; their jobs stay (the admin
        still reads them)."""
        if not self._b.users.delete_user(user_id, self._clock()):
            raise NotFound(f"no user {user_id!r}")
        self._cache.clear()

    def list_users(self, cursor: str | None, limit: int) -> Page[User]:
        return self._b.users.list_users(cursor, limit)

    def issue_key(self, user_id: str) -> str:
        self.get_user(user_id)
        key_id = secrets.token_hex(6)
        raw = f"jg_{key_id}_{secrets.token_urlsafe(32)}"
        self._b.users.add_key(ApiKey(key_id, user_id, hash_key(raw), self._clock()))
        return raw

    def revoke_key(self, user_id: str, key_id: str) -> None:
        if not self._b.users.revoke_key(user_id, key_id, self._clock()):
            raise NotFound(f"user {user_id!r} has no live key {key_id!r}")
        self._cache.clear()

    def list_keys(self, user_id: str) -> list[ApiKey]:
        self.get_user(user_id)
        return self._b.users.list_keys(user_id)

    def authenticate_admin(self, raw: str | None) -> Principal:
        """The admin's principal; Unauthorized as :meth:`authenticate`, Forbidden for any
        other valid key."""
        who = self.authenticate(raw)
        if not who.is_admin:
            raise Forbidden("this needs the admin key")
        return who

    def authenticate(self, raw: str | None) -> Principal:
        """The principal a raw key names; Unauthorized when missing, unknown or revoked."""
        if not raw:
            raise Unauthorized("send an API key in 'Authorization: Bearer …' or 'X-API-Key'")
        digest = hash_key(raw)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(ADMIN, is_admin=True)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = self._b.users.find_key(digest)
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key is not valid")
        principal = Principal(key.user_id, key_id=key.key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, now + self._cache_ttl)
        return principal
