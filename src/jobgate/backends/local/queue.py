"""A queue with SQS semantics on SQLite: visibility timeouts, receive counts, a dead-letter queue.

A message row lives in queue ``main`` or ``dlq``. ``visible_at`` is when it may next be received
(delay seconds set it in the future at send; a receive pushes it out by the visibility
timeout). Each receive increments ``receive_count`` and issues a new receipt
(``message_id.receive_count``); only the newest receipt may extend or release the message, and an
ack with an older one is ignored, as SQS does. A visible message already received
``max_receives`` times moves to the DLQ instead of being delivered again.

Long polling: receivers in this process wait on a condition that ``send`` notifies after commit;
writers in other processes are noticed through ``PRAGMA data_version``, checked every
``poll_interval`` seconds (a cheap read of a counter, no query of the table).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence

from jobgate.backends.local.codec import dumps
from jobgate.backends.local.db import Database
from jobgate.domain.ids import id_floor, new_id
from jobgate.domain.models import Delivery, OutgoingMessage, QueueStats
from jobgate.errors import StaleReceipt

_COLUMNS = "message_id, receipt, body, receive_count, attributes, sent_at"
MAIN, DLQ = "main", "dlq"


def _delivery(row: tuple[str, str | None, str, int, str, float]) -> Delivery:
    message_id, receipt, body, receive_count, attributes, sent_at = row
    return Delivery(message_id, receipt or "", body, receive_count, json.loads(attributes), sent_at)


def _message_id(receipt: str) -> str:
    return receipt.rsplit(".", 1)[0]


class SqliteQueue:
    """:class:`~jobgate.ports.JobQueue` and :class:`~jobgate.ports.DeadLetters` in one table."""

    def __init__(
        self,
        db: Database,
        *,
        max_receives: int,
        retention_seconds: float,
        dlq_retention_seconds: float,
        poll_interval: float = 0.02,
    ) -> None:
        self._db = db
        self.max_receives = max_receives
        self._retention = {MAIN: retention_seconds, DLQ: dlq_retention_seconds}
        self._poll_interval = poll_interval
        self._arrived = threading.Condition()
        self._generation = 0
        self._last_expiry = 0.0

    # -- JobQueue -----------------------------------------------------------------------------

    def send(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        now = time.time()
        ids = [new_id(now) for _ in messages]
        rows = [
            (mid, MAIN, m.body, dumps(m.attributes), now, now + m.delay_seconds)
            for mid, m in zip(ids, messages, strict=True)
        ]
        with self._db.tx() as conn:
            conn.executemany(
                "INSERT INTO messages (message_id, queue, body, attributes, sent_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.after_commit(lambda: self._notify(len(rows)))
        return ids

    def _notify(self, count: int | None = None) -> None:
        """Wake receivers: as many as there are new messages (all when ``count`` is None)."""
        with self._arrived:
            self._generation += 1
            if count is None:
                self._arrived.notify_all()
            else:
                self._arrived.notify(count)

    def receive(
        self, max_messages: int, wait_seconds: float, visibility_timeout: float
    ) -> list[Delivery]:
        deadline = time.monotonic() + wait_seconds
        conn = self._db.connection()
        while True:
            (data_version,) = conn.execute("PRAGMA data_version").fetchone()
            generation = self._generation
            got = self._receive_now(max_messages, visibility_timeout)
            if got:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Sleep until a local send notifies, or another process commits (data_version moves).
            while remaining > 0:
                with self._arrived:
                    if self._generation == generation:
                        self._arrived.wait(min(self._poll_interval, remaining))
                    if self._generation != generation:
                        break
                if conn.execute("PRAGMA data_version").fetchone()[0] != data_version:
                    break
                remaining = deadline - time.monotonic()

    def _receive_now(self, max_messages: int, visibility_timeout: float) -> list[Delivery]:
        now = time.time()
        self._expire(now)
        # Look before taking the write lock: an empty receive should cost no write transaction
        # (idle consumers would otherwise contend with every submit).
        if (
            not self._db.connection()
            .execute(
                "SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ? LIMIT 1", (MAIN, now)
            )
            .fetchone()
        ):
            return []
        with self._db.tx() as conn:
            rows = conn.execute(
                "SELECT message_id, receive_count FROM messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?",
                (MAIN, now, max_messages),
            ).fetchall()
            if not rows:
                return []
            exhausted = [(mid,) for mid, count in rows if count >= self.max_receives]
            if exhausted:
                conn.executemany(
                    "UPDATE messages SET queue = 'dlq', receipt = NULL, visible_at = ?, "
                    "receive_count = receive_count + 1 WHERE message_id = ?",
                    [(now, mid) for (mid,) in exhausted],
                )
            take = [mid for mid, count in rows if count < self.max_receives]
            deliveries = []
            for mid in take:
                row = conn.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, "
                    "receipt = message_id || '.' || (receive_count + 1), visible_at = ? "
                    f"WHERE message_id = ? RETURNING {_COLUMNS}",
                    (now + visibility_timeout, mid),
                ).fetchone()
                deliveries.append(_delivery(row))
            return deliveries

    def _expire(self, now: float) -> None:
        """Drop messages past retention, at most once a second (SQS deletes them silently)."""
        if now - self._last_expiry < 1.0:
            return
        self._last_expiry = now
        with self._db.tx() as conn:
            for queue, retention in self._retention.items():
                # Message ids are ULIDs of the send time: a primary-key range finds the old.
                conn.execute(
                    "DELETE FROM messages WHERE message_id < ? AND queue = ?",
                    (id_floor(now - retention), queue),
                )

    def ack(self, receipts: Sequence[str]) -> None:
        with self._db.tx() as conn:
            conn.executemany(
                "DELETE FROM messages WHERE message_id = ? AND receipt = ?",
                [(_message_id(r), r) for r in receipts],
            )

    def extend(self, receipt: str, visibility_timeout: float) -> None:
        self._set_visible_at(receipt, time.time() + visibility_timeout)

    def release(self, receipt: str, delay_seconds: float) -> None:
        self._set_visible_at(receipt, time.time() + delay_seconds)
        if delay_seconds <= 0:
            self._notify()

    def _set_visible_at(self, receipt: str, visible_at: float) -> None:
        with self._db.tx() as conn:
            cursor = conn.execute(
                "UPDATE messages SET visible_at = ? "
                "WHERE message_id = ? AND receipt = ? AND queue = 'main'",
                (visible_at, _message_id(receipt), receipt),
            )
            if cursor.rowcount == 0:
                raise StaleReceipt(f"receipt {receipt} is not the current one")

    def stats(self) -> QueueStats:
        now = time.time()
        row = (
            self._db.connection()
            .execute(
                "SELECT "
                "  COALESCE(SUM(queue = 'main' AND visible_at <= :now), 0),"
                "  COALESCE(SUM(queue = 'main' AND visible_at > :now AND receipt IS NOT NULL), 0),"
                "  COALESCE(SUM(queue = 'main' AND visible_at > :now AND receipt IS NULL), 0),"
                "  COALESCE(SUM(queue = 'dlq'), 0),"
                "  MIN(CASE WHEN queue = 'main' THEN sent_at END) "
                "FROM messages",
                {"now": now},
            )
            .fetchone()
        )
        depth, in_flight, delayed, dead, oldest = row
        return QueueStats(depth, in_flight, delayed, dead, max(0.0, now - oldest) if oldest else 0)

    # -- DeadLetters --------------------------------------------------------------------------

    def bury(self, delivery: Delivery) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "UPDATE messages SET queue = 'dlq', receipt = NULL, visible_at = ? "
                "WHERE message_id = ?",
                (time.time(), delivery.message_id),
            )

    def peek(self, limit: int = 100) -> list[Delivery]:
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM messages WHERE queue = 'dlq' ORDER BY visible_at LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [_delivery(r) for r in rows]

    def redrive(self, message_ids: Sequence[str] | None = None) -> list[Delivery]:
        with self._db.tx() as conn:
            if message_ids is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE queue = 'dlq'"
                ).fetchall()
            else:
                rows = [
                    row
                    for mid in message_ids
                    if (
                        row := conn.execute(
                            f"SELECT {_COLUMNS} FROM messages "
                            "WHERE queue = 'dlq' AND message_id = ?",
                            (mid,),
                        ).fetchone()
                    )
                ]
            # A redriven message starts afresh with a new id, as SQS moves it back.
            now = time.time()
            moved = [(new_id(now), *row[1:]) for row in rows]
            conn.executemany(
                "UPDATE messages SET message_id = ?, queue = 'main', receipt = NULL, "
                "receive_count = 0, visible_at = ?, sent_at = ? WHERE message_id = ?",
                [(fresh[0], now, now, old[0]) for fresh, old in zip(moved, rows, strict=True)],
            )
            self._db.after_commit(self._notify)
        return [_delivery(r) for r in moved]

    def purge(self) -> int:
        with self._db.tx() as conn:
            return conn.execute("DELETE FROM messages WHERE queue = 'dlq'").rowcount
