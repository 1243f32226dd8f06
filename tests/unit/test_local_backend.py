"""Local-backend specifics the contract suite cannot cover on every backend."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from jobgate.backends.local.db import Database
from jobgate.backends.local.ledger import SqliteJobStore
from jobgate.backends.local.queue import SqliteQueue
from jobgate.domain import transitions as verbs
from jobgate.domain.ids import id_floor, new_id
from jobgate.domain.models import OutgoingMessage
from jobgate.settings import Settings
from tests.contract.test_job_store import make_job, submitted

DEFAULTS = Settings(_env_file=None, _environ={})  # every setting at its default, nothing read


def open_db(path: Path) -> Database:
    return Database(
        path,
        synchronous=DEFAULTS.sqlite_synchronous,
        busy_timeout_ms=DEFAULTS.sqlite_busy_timeout_ms,
    )


def open_queue(db: Database) -> SqliteQueue:
    return SqliteQueue(
        db,
        max_receives=DEFAULTS.max_receives,
        retention_seconds=DEFAULTS.queue_retention_days * 86400,
        dlq_retention_seconds=DEFAULTS.dlq_retention_days * 86400,
    )


def test_schema_is_migrated_once_and_reopens(tmp_path: Path) -> None:
    db = open_db(tmp_path / "j.db")
    assert db.schema_version() == 6
    db.close()
    again = open_db(tmp_path / "j.db")  # migrations are idempotent
    assert again.schema_version() == 6
    names = {
        r[0] for r in sqlite3.connect(tmp_path / "j.db").execute("SELECT name FROM sqlite_master")
    }
    assert "messages_sent" not in names and "jobs_idempotency" in names
    again.close()


def test_messages_past_retention_are_dropped(tmp_path: Path) -> None:
    db = open_db(tmp_path / "q.db")
    queue = SqliteQueue(db, max_receives=10, retention_seconds=0.3, dlq_retention_seconds=0.3)
    queue.send([OutgoingMessage("{}")])
    time.sleep(1.1)  # past retention, and past the once-a-second expiry pass
    assert queue.receive(1, 0, 30) == []
    assert queue.stats().depth == 0
    db.close()


def test_id_floor_orders_ids_by_time() -> None:
    now = time.time()
    assert id_floor(now - 1) < new_id(now) < id_floor(now + 1)


def test_expired_events_are_deleted_in_chunks(tmp_path: Path) -> None:
    db = open_db(tmp_path / "e.db")
    store = SqliteJobStore(db, event_retention_seconds=10)
    job = make_job()
    store.create(job, submitted(job))
    for _ in range(24):
        current = store.get(job.job_id)
        assert current is not None
        store.transition(verbs.resend(current, now=time.time()))
    assert store.expire_events(time.time(), chunk=5) == 0
    assert store.expire_events(time.time() + 60, chunk=5) == 25
    assert store.events(job.job_id) == []
    db.close()


def test_the_wal_stays_bounded_under_steady_writes(tmp_path: Path) -> None:
    db = open_db(tmp_path / "w.db")
    queue = open_queue(db)
    for _ in range(300):
        queue.send([OutgoingMessage("x" * 2000) for _ in range(10)])  # ~3000 pages of rows
    assert (tmp_path / "w.db-wal").stat().st_size < 16 * 1024 * 1024
    db.close()


def test_nested_atomic_is_a_savepoint(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    queue = open_queue(db)
    with db.atomic():
        queue.send([OutgoingMessage("kept")])
        try:
            with db.atomic():
                queue.send([OutgoingMessage("rolled back")])
                raise RuntimeError("inner failure")
        except RuntimeError:
            pass
    assert [d.body for d in queue.receive(10, 0, 30)] == ["kept"]
    db.close()


def test_a_new_database_has_small_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """1 KiB pages for a new file (a submit dirties ~9 b-tree pages; WAL writes whole pages);
    a file made before keeps its page size and works as before."""
    new = open_db(tmp_path / "new.db")
    assert new.connection().execute("PRAGMA page_size").fetchone() == (1024,)
    old_path = tmp_path / "old.db"
    made = sqlite3.connect(old_path)
    made.execute("PRAGMA page_size = 4096")
    made.execute("CREATE TABLE t (x)")  # the first write fixes the page size
    made.close()
    old = open_db(old_path)
    assert old.connection().execute("PRAGMA page_size").fetchone() == (4096,)
    assert old.schema_version() == new.schema_version()  # migrated as usual
