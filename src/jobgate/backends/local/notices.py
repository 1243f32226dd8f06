"""Subscriptions, the delivery outbox and the mail outbox on SQLite. Translation only.

The outbox is the job history itself: ``job_events`` rows are written in the same transaction
as the state change they record, and the dispatcher's cursor (the last ``seq`` it turned into
deliveries) moves in the same transaction as the deliveries it makes. The ``notifications``
cursor is made with the schema, so events are dispatched from the database's first one, even
those committed before any notifier ran. SQLite has one writer at
a time, so ``seq`` order is commit order and no event can appear behind the cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobgate.backends.fields import delivery_of, delivery_text, subscription_of, subscription_text
from jobgate.backends.local import codec
from jobgate.backends.local.db import Database
from jobgate.domain.models import JobEvent
from jobgate.domain.notices import DeliveryStatus, NoticeDelivery, Subscription

_DELIVERY_COLUMNS = "delivery_id, sub_id, status, next_attempt_at, created_at, data"


def _delivery_row(d: NoticeDelivery) -> tuple[Any, ...]:
    return (d.delivery_id, d.sub_id, d.status.value, d.next_attempt_at, d.created_at,
            delivery_text(d))  # fmt: skip


class SqliteNoticeStore:
    """:class:`~jobgate.ports.SubscriptionStore` and :class:`~jobgate.ports.DeliveryStore`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- subscriptions --------------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO subscriptions (sub_id, owner, created_at, data) VALUES (?, ?, ?, ?)",
                (subscription.sub_id, subscription.owner, subscription.created_at,
                 subscription_text(subscription)),
            )  # fmt: skip

    def get_subscription(self, sub_id: str) -> Subscription | None:
        row = (
            self._db.connection()
            .execute("SELECT data FROM subscriptions WHERE sub_id = ?", (sub_id,))
            .fetchone()
        )
        return None if row is None else subscription_of(row[0])

    def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        conn = self._db.connection()
        if owner is None:
            rows = conn.execute("SELECT data FROM subscriptions ORDER BY created_at").fetchall()
        else:
            rows = conn.execute(
                "SELECT data FROM subscriptions WHERE owner = ? ORDER BY created_at", (owner,)
            ).fetchall()
        return [subscription_of(r[0]) for r in rows]

    def save_subscription(self, subscription: Subscription) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "UPDATE subscriptions SET data = ? WHERE sub_id = ?",
                (subscription_text(subscription), subscription.sub_id),
            )

    def delete_subscription(self, sub_id: str) -> bool:
        with self._db.tx() as conn:
            gone = conn.execute("DELETE FROM subscriptions WHERE sub_id = ?", (sub_id,)).rowcount
            conn.execute(
                "DELETE FROM deliveries WHERE sub_id = ? AND status = ?",
                (sub_id, DeliveryStatus.PENDING.value),
            )
        return gone == 1

    # -- deliveries -----------------------------------------------------------------------------

    def dispatch(
        self, cursor_name: str, make: Callable[[list[JobEvent]], list[NoticeDelivery]], limit: int
    ) -> int:
        conn = self._db.connection()
        position = self._position(conn, cursor_name)
        # look before taking the write lock: an idle dispatcher writes nothing
        if not conn.execute(
            "SELECT 1 FROM job_events WHERE seq > ? LIMIT 1", (position,)
        ).fetchone():
            return 0
        with self._db.tx() as conn:
            position = self._position(conn, cursor_name)
            rows = conn.execute(
                f"SELECT seq, {codec.EVENT_COLUMNS} FROM job_events WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (position, limit),
            ).fetchall()
            if not rows:
                return 0
            made = make([codec.row_to_event(row[1:]) for row in rows])
            conn.executemany(
                f"INSERT OR IGNORE INTO deliveries ({_DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [_delivery_row(d) for d in made],
            )
            conn.execute(
                "INSERT INTO cursors (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (cursor_name, rows[-1][0]),
            )
        return len(rows)

    @staticmethod
    def _position(conn: Any, name: str) -> int:
        row = conn.execute("SELECT position FROM cursors WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise LookupError(f"cursor {name!r} was never started (start_cursor)")
        return int(row[0])

    def start_cursor(self, name: str) -> None:
        """Fix a new cursor at the current end of the history (no-op when it exists)."""
        with self._db.tx() as conn:
            (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM job_events").fetchone()
            conn.execute(
                "INSERT OR IGNORE INTO cursors (name, position) VALUES (?, ?)", (name, last)
            )

    def claim_due(self, now: float, limit: int, lease_seconds: float) -> list[NoticeDelivery]:
        conn = self._db.connection()
        pending = DeliveryStatus.PENDING.value
        if not conn.execute(
            "SELECT 1 FROM deliveries WHERE status = ? AND next_attempt_at <= ? LIMIT 1",
            (pending, now),
        ).fetchone():
            return []
        with self._db.tx() as conn:
            rows = conn.execute(
                "SELECT data FROM deliveries WHERE status = ? AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at LIMIT ?",
                (pending, now, limit),
            ).fetchall()
            claimed = [delivery_of(r[0]) for r in rows]
            conn.executemany(
                "UPDATE deliveries SET next_attempt_at = ? WHERE delivery_id = ?",
                [(now + lease_seconds, d.delivery_id) for d in claimed],
            )
        return claimed

    def save_delivery(self, delivery: NoticeDelivery) -> None:
        with self._db.tx() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO deliveries ({_DELIVERY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                _delivery_row(delivery),
            )

    def get_delivery(self, delivery_id: str) -> NoticeDelivery | None:
        row = (
            self._db.connection()
            .execute("SELECT data FROM deliveries WHERE delivery_id = ?", (delivery_id,))
            .fetchone()
        )
        return None if row is None else delivery_of(row[0])

    def deliveries(self, sub_id: str, limit: int = 100) -> list[NoticeDelivery]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT data FROM deliveries WHERE sub_id = ? ORDER BY created_at DESC, "
                "delivery_id DESC LIMIT ?",
                (sub_id, limit),
            )
            .fetchall()
        )
        return [delivery_of(r[0]) for r in rows]


class SqliteMailOutbox:
    """Email kept in the database when no SMTP server is configured (``jobgate outbox``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def send(self, recipient: str, subject: str, text: str, at: float) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO mail_outbox (at, recipient, subject, body) VALUES (?, ?, ?, ?)",
                (at, recipient, subject, text),
            )

    def read(self, limit: int = 50) -> list[tuple[float, str, str, str]]:
        """The newest messages first: (time, recipient, subject, body)."""
        rows = (
            self._db.connection()
            .execute(
                "SELECT at, recipient, subject, body FROM mail_outbox ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [(float(a), str(r), str(s), str(b)) for a, r, s, b in rows]
