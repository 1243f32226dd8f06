"""The local backend: SQLite (ledger, queue, schedules) and files (blobs). One machine, no cloud."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jobgate.backends.local.blobs import FileBlobStore, UrlSigner
from jobgate.backends.local.db import Database
from jobgate.backends.local.ledger import SqliteJobStore, SqliteScheduleStore, SqliteUserStore
from jobgate.backends.local.notices import SqliteMailOutbox, SqliteNoticeStore
from jobgate.backends.local.queue import SqliteQueue
from jobgate.errors import ConfigurationError
from jobgate.ports import Backend


def build_local_backend(
    data_dir: Path,
    signing_secret: bytes,
    *,
    synchronous: str,
    busy_timeout_ms: int,
    max_receives: int,
    event_retention_seconds: float,
    queue_retention_seconds: float,
    dlq_retention_seconds: float,
) -> Backend:
    """Open (and migrate) ``data_dir/jobgate.db`` and the blob folder beside it."""
    try:
        db = Database(
            data_dir / "jobgate.db", synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
        )
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(
            f"the data folder {data_dir} cannot be used ({exc}): give a writable folder with "
            "--data-dir or JOBGATE_DATA_DIR"
        ) from None
    queue = SqliteQueue(
        db,
        max_receives=max_receives,
        retention_seconds=queue_retention_seconds,
        dlq_retention_seconds=dlq_retention_seconds,
    )
    blobs = FileBlobStore(data_dir / "blobs", UrlSigner(signing_secret))
    notices = SqliteNoticeStore(db)
    return Backend(
        name="local",
        jobs=SqliteJobStore(db, event_retention_seconds),
        users=SqliteUserStore(db),
        queue=queue,
        dead_letters=queue,
        blobs=blobs,
        schedules=SqliteScheduleStore(db),
        subscriptions=notices,
        notices=notices,
        mail_outbox=SqliteMailOutbox(db),
        atomic=db.atomic,
        close=db.close,
        blob_server=blobs,
        inline_io=True,
        write_scope=db.write_scope,
    )
