"""The job ledger, users and schedules on SQLite. Translation only: policy lives in services."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from jobgate.backends.fields import JOB_FIELDS, page_of
from jobgate.backends.local import codec
from jobgate.backends.local.db import Database
from jobgate.domain.models import (
    ApiKey,
    Job,
    JobEvent,
    JobStatus,
    Page,
    ScheduleState,
    User,
)
from jobgate.domain.transitions import Transition
from jobgate.errors import Conflict, NotFound, TransitionConflict
from jobgate.ports import transition_each

_INSERT_JOB = f"INSERT INTO jobs ({codec.JOB_COLUMNS}) VALUES ({', '.join('?' * len(JOB_FIELDS))})"
_INSERT_EVENT = (
    f"INSERT INTO job_events ({codec.EVENT_COLUMNS}, expires_at) VALUES ({', '.join('?' * 10)})"
)


class SqliteJobStore:
    """:class:`~jobgate.ports.JobStore` on SQLite; ``UPDATE … WHERE version = ?`` is the CAS."""

    def __init__(self, db: Database, event_retention_seconds: float = 30 * 86400) -> None:
        self._db = db
        self._retention = event_retention_seconds

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        with self._db.tx() as conn:
            if job.idempotency_key is not None:
                existing = self._by_key(conn, job.owner, job.idempotency_key)
                if existing is not None:
                    return existing, False
            conn.execute(_INSERT_JOB, codec.job_params(job))
            conn.execute(_INSERT_EVENT, codec.event_params(event, self._retention))
        return job, True

    def create_many(self, items: Sequence[tuple[Job, JobEvent]]) -> list[tuple[Job, bool]]:
        with self._db.tx() as conn:  # one commit for them all
            keyed = [self.create(job, event) if job.idempotency_key is not None else None
                     for job, event in items]  # fmt: skip
            fresh = [item for item, k in zip(items, keyed, strict=True) if k is None]
            if fresh:  # fresh ids need no lookup: one statement per table for them all
                conn.executemany(_INSERT_JOB, [codec.job_params(job) for job, _ in fresh])
                conn.executemany(
                    _INSERT_EVENT, [codec.event_params(e, self._retention) for _, e in fresh]
                )
            return [(job, True) if k is None else k
                    for (job, _), k in zip(items, keyed, strict=True)]  # fmt: skip

    def _by_key(self, conn: sqlite3.Connection, owner: str, key: str) -> Job | None:
        row = conn.execute(
            f"SELECT {codec.JOB_COLUMNS} FROM jobs WHERE owner = ? AND idempotency_key = ?",
            (owner, key),
        ).fetchone()
        return None if row is None else codec.row_to_job(row)

    def withdraw(self, job: Job) -> None:
        with self._db.tx() as conn:
            gone = conn.execute(
                "DELETE FROM jobs WHERE job_id = ? AND version = 1", (job.job_id,)
            ).rowcount
            if gone:
                conn.execute("DELETE FROM job_events WHERE job_id = ?", (job.job_id,))

    def get(self, job_id: str) -> Job | None:
        row = (
            self._db.connection()
            .execute(f"SELECT {codec.JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
            .fetchone()
        )
        return None if row is None else codec.row_to_job(row)

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        unique = list(dict.fromkeys(job_ids))
        found: dict[str, Job] = {}
        for start in range(0, len(unique), 500):  # under SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.connection().execute(
                f"SELECT {codec.JOB_COLUMNS} FROM jobs WHERE job_id IN ({marks})", chunk
            ):
                job = codec.row_to_job(row)
                found[job.job_id] = job
        return found

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("owner", owner), ("status", status), ("type", job_type)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value.value if isinstance(value, JobStatus) else value)
        if cursor is not None:
            clauses.append("job_id < ?")
            params.append(codec.decode_cursor(cursor))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {codec.JOB_COLUMNS} FROM jobs {where} ORDER BY job_id DESC LIMIT ?",
                (*params, limit + 1),
            )
            .fetchall()
        )
        return page_of([codec.row_to_job(r) for r in rows], limit, lambda job: job.job_id)

    def transition(self, transition: Transition) -> Job:
        job = transition.job
        columns = codec.change_columns(transition.changes)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        sql = (
            f"UPDATE jobs SET {assignments}, version = version + 1 WHERE job_id = ? AND version = ?"
        )
        with self._db.tx() as conn:
            cursor = conn.execute(sql, (*columns.values(), job.job_id, job.version))
            if cursor.rowcount == 0:
                current = self._get_in(conn, job.job_id)
                raise TransitionConflict(
                    f"job {job.job_id} is at version "
                    f"{current.version if current else 'none'}, not {job.version}",
                    current,
                )
            if transition.event is not None:
                conn.execute(_INSERT_EVENT, codec.event_params(transition.event, self._retention))
        return transition.after

    def transition_many(self, transitions: Sequence[Transition]) -> list[Job | TransitionConflict]:
        with self._db.tx():  # one commit for them all (a failed compare-and-set writes nothing)
            return transition_each(self.transition, transitions)

    def _get_in(self, conn: sqlite3.Connection, job_id: str) -> Job | None:
        row = conn.execute(
            f"SELECT {codec.JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        return None if row is None else codec.row_to_job(row)

    def events(self, job_id: str, limit: int = 200) -> list[JobEvent]:
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {codec.EVENT_COLUMNS} FROM job_events "
                "WHERE job_id = ? ORDER BY seq LIMIT ?",
                (job_id, limit),
            )
            .fetchall()
        )
        return [codec.row_to_event(r) for r in rows]

    def stale(self, status: JobStatus, before: float, limit: int = 100) -> list[Job]:
        column = "lease_expires_at" if status is JobStatus.PROCESSING else "updated_at"
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {codec.JOB_COLUMNS} FROM jobs WHERE status = ? AND {column} < ? "
                "ORDER BY updated_at LIMIT ?",
                (status.value, before, limit),
            )
            .fetchall()
        )
        return [codec.row_to_job(r) for r in rows]

    def expire_events(self, before: float, chunk: int = 5000) -> int:
        # Events are appended in time order, so expired ones sit at the start of the sequence:
        # delete chunk by chunk along the primary key, and stop at the first chunk that still
        # holds live events (no index on expires_at to keep up on every insert).
        deleted = 0
        while True:
            with self._db.tx() as conn:
                row = conn.execute(
                    "SELECT seq FROM job_events ORDER BY seq LIMIT 1 OFFSET ?", (chunk - 1,)
                ).fetchone()
                bound = (
                    row[0]
                    if row
                    else conn.execute("SELECT COALESCE(MAX(seq), 0) FROM job_events").fetchone()[0]
                )
                gone = conn.execute(
                    "DELETE FROM job_events WHERE seq <= ? AND expires_at < ?", (bound, before)
                ).rowcount
            deleted += gone
            if row is None or gone < chunk:
                return deleted


class SqliteUserStore:
    """:class:`~jobgate.ports.UserStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_user(self, user: User) -> None:
        try:
            with self._db.tx() as conn:
                conn.execute(
                    "INSERT INTO users (user_id, name, email, created_at) VALUES (?, ?, ?, ?)",
                    (user.user_id, user.name, user.email, user.created_at),
                )
        except sqlite3.IntegrityError as exc:
            taken = "email" in str(exc)  # the unique index on lower(email) names it
            raise Conflict(
                f"another user has the email {user.email!r}"
                if taken
                else f"user {user.user_id!r} already exists"
            ) from exc

    def update_user(self, user: User, previous: User) -> None:
        try:
            with self._db.tx() as conn:
                changed = conn.execute(
                    "UPDATE users SET name = ?, email = ? WHERE user_id = ?",
                    (user.name, user.email, user.user_id),
                ).rowcount
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"another user has the email {user.email!r}") from exc
        if not changed:
            raise NotFound(f"no user {user.user_id!r}")

    def delete_user(self, user_id: str, at: float) -> bool:
        with self._db.tx() as conn:
            gone = conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (at, user_id),
            )
        return gone == 1

    def get_user(self, user_id: str) -> User | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT user_id, name, email, created_at FROM users WHERE user_id = ?", (user_id,)
            )
            .fetchone()
        )
        return None if row is None else User(*row)

    def list_users(self, cursor: str | None = None, limit: int = 50) -> Page[User]:
        after = codec.decode_cursor(cursor) if cursor else ""
        rows = (
            self._db.connection()
            .execute(
                "SELECT user_id, name, email, created_at FROM users WHERE user_id > ? "
                "ORDER BY user_id LIMIT ?",
                (after, limit + 1),
            )
            .fetchall()
        )
        return page_of([User(*r) for r in rows], limit, lambda user: user.user_id)

    def add_key(self, key: ApiKey) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, user_id, key_hash, created_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key.key_id, key.user_id, key.key_hash, key.created_at, key.revoked_at),
            )

    def revoke_key(self, user_id: str, key_id: str, at: float) -> bool:
        with self._db.tx() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? "
                "WHERE key_id = ? AND user_id = ? AND revoked_at IS NULL",
                (at, key_id, user_id),
            )
            return cursor.rowcount == 1

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT key_id, user_id, key_hash, created_at, revoked_at FROM api_keys "
                "WHERE key_hash = ?",
                (key_hash,),
            )
            .fetchone()
        )
        return None if row is None else ApiKey(*row)

    def list_keys(self, user_id: str) -> list[ApiKey]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT key_id, user_id, key_hash, created_at, revoked_at FROM api_keys "
                "WHERE user_id = ? ORDER BY created_at",
                (user_id,),
            )
            .fetchall()
        )
        return [ApiKey(*r) for r in rows]


class SqliteScheduleStore:
    """:class:`~jobgate.ports.ScheduleStore` on SQLite."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_state(self, name: str) -> ScheduleState:
        row = (
            self._db.connection()
            .execute("SELECT last_tick, missed, version FROM schedules WHERE name = ?", (name,))
            .fetchone()
        )
        return ScheduleState(name, None) if row is None else ScheduleState(name, *row)

    def advance(self, state: ScheduleState, last_tick: float, missed: int) -> bool:
        with self._db.tx() as conn:
            if state.version == 0:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO schedules (name, last_tick, missed, version) "
                    "VALUES (?, ?, ?, 1)",
                    (state.name, last_tick, missed),
                )
            else:
                cursor = conn.execute(
                    "UPDATE schedules SET last_tick = ?, missed = ?, version = version + 1 "
                    "WHERE name = ? AND version = ?",
                    (last_tick, missed, state.name, state.version),
                )
            return cursor.rowcount == 1
