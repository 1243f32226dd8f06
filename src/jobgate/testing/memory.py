"""An in-memory backend that implements every port, and a clock you turn by hand.

For tests of policy (retries, the reconciler, schedules, timeouts) that should run
deterministically: no files, no network, no sleeps. The contract suite runs on it as on the
real backends, so it behaves as they do; it keeps nothing across processes.

    clock = ManualClock()
    backend = memory_backend(clock)
    services = bootstrap.build(settings, app, backend=backend, clock=clock)
    ...
    clock.advance(30)        # leases, visibility timeouts and delays move with it

``atomic()`` is a transaction: the outermost scope holds one lock (writers in other threads
wait) and restores the whole state if its block raises; a nested scope is a savepoint.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from jobgate.backends.fields import check_key, decode_cursor, page_of
from jobgate.domain.ids import new_id
from jobgate.domain.models import (
    ApiKey,
    BlobRef,
    Delivery,
    Job,
    JobEvent,
    JobStatus,
    OutgoingMessage,
    Page,
    QueueStats,
    ScheduleState,
    User,
)
from jobgate.domain.notices import DeliveryStatus, NoticeDelivery, Subscription
from jobgate.domain.transitions import Transition
from jobgate.errors import Conflict, NotFound, StaleReceipt, TransitionConflict
from jobgate.ports import Backend, transition_each


class ManualClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Message:
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str | None = None
    dead: bool = False

    def delivery(self) -> Delivery:
        return Delivery(
            self.message_id,
            self.receipt or "",
            self.body,
            self.receive_count,
            dict(self.attributes),
            self.sent_at,
        )


@dataclass
class _State:
    jobs: dict[str, Job] = field(default_factory=dict)
    events: dict[str, list[JobEvent]] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (owner, key) → job id
    users: dict[str, User] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)  # by hash
    messages: dict[str, _Message] = field(default_factory=dict)
    blobs: dict[str, tuple[bytes, BlobRef]] = field(default_factory=dict)
    schedules: dict[str, ScheduleState] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    deliveries: dict[str, NoticeDelivery] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)  # position in ``history``
    history: list[JobEvent] = field(default_factory=list)  # every event, in commit order
    mail: list[tuple[float, str, str, str]] = field(default_factory=list)


class _Store:
    """The shared state, its lock and its transactions."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.state = _State()
        self.lock = threading.RLock()
        self.arrived = threading.Condition(self.lock)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.lock:
            snapshot = copy.deepcopy(self.state)
            try:
                yield
            except BaseException:
                self.state = snapshot
                raise
            finally:
                self.arrived.notify_all()


class MemoryJobStore:
    def __init__(self, store: _Store, event_retention_seconds: float) -> None:
        self._s = store
        self._retention = event_retention_seconds

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        with self._s.lock:
            state = self._s.state
            if job.idempotency_key is not None:
                existing = state.keys.get((job.owner, job.idempotency_key))
                if existing is not None:
                    return state.jobs[existing], False
                state.keys[(job.owner, job.idempotency_key)] = job.job_id
            state.jobs[job.job_id] = job
            state.events[job.job_id] = [event]
            state.history.append(event)
            return job, True

    def create_many(self, items: Sequence[tuple[Job, JobEvent]]) -> list[tuple[Job, bool]]:
        return [self.create(job, event) for job, event in items]

    def withdraw(self, job: Job) -> None:
        with self._s.lock:
            state = self._s.state
            stored = state.jobs.get(job.job_id)
            if stored is None or stored.version != 1:
                return
            del state.jobs[job.job_id]
            state.events.pop(job.job_id, None)
            if job.idempotency_key is not None:
                state.keys.pop((job.owner, job.idempotency_key), None)

    def get(self, job_id: str) -> Job | None:
        with self._s.lock:
            return self._s.state.jobs.get(job_id)

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        with self._s.lock:
            jobs = self._s.state.jobs
            return {i: jobs[i] for i in job_ids if i in jobs}

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        before = decode_cursor(cursor) if cursor else None
        with self._s.lock:
            jobs = sorted(self._s.state.jobs.values(), key=lambda j: j.job_id, reverse=True)
        matching = [
            j
            for j in jobs
            if (owner is None or j.owner == owner)
            and (status is None or j.status is status)
            and (job_type is None or j.type == job_type)
            and (before is None or j.job_id < before)
        ]
        return page_of(matching, limit, lambda job: job.job_id)

    def transition(self, transition: Transition) -> Job:
        job = transition.job
        with self._s.lock:
            state = self._s.state
            current = state.jobs.get(job.job_id)
            if current is None or current.version != job.version:
                version = current.version if current else "none"
                raise TransitionConflict(
                    f"job {job.job_id} is at version {version}, not {job.version}", current
                )
            after = transition.after
            state.jobs[job.job_id] = after
            if transition.event is not None:
                state.events.setdefault(job.job_id, []).append(transition.event)
                state.history.append(transition.event)
            return after

    def transition_many(self, transitions: Sequence[Transition]) -> list[Job | TransitionConflict]:
        return transition_each(self.transition, transitions)

    def events(self, job_id: str, limit: int = 200) -> list[JobEvent]:
        with self._s.lock:
            return list(self._s.state.events.get(job_id, []))[:limit]

    def stale(self, status: JobStatus, before: float, limit: int = 100) -> list[Job]:
        with self._s.lock:
            jobs = list(self._s.state.jobs.values())
        if status is JobStatus.PROCESSING:
            found = [j for j in jobs if j.status is status and (j.lease_expires_at or 0) < before]
        else:
            found = [j for j in jobs if j.status is status and j.updated_at < before]
        return sorted(found, key=lambda j: j.updated_at)[:limit]

    def expire_events(self, before: float) -> int:
        gone = 0
        with self._s.lock:
            for job_id, events in self._s.state.events.items():
                kept = [e for e in events if e.at + self._retention >= before]
                gone += len(events) - len(kept)
                self._s.state.events[job_id] = kept
        return gone


class MemoryUserStore:
    def __init__(self, store: _Store) -> None:
        self._s = store

    def create_user(self, user: User) -> None:
        with self._s.lock:
            if user.user_id in self._s.state.users:
                raise Conflict(f"user {user.user_id!r} already exists")
            self._email_free(user)
            self._s.state.users[user.user_id] = user

    def _email_free(self, user: User) -> None:
        email = user.email.lower()
        for other in self._s.state.users.values():
            if other.user_id != user.user_id and other.email.lower() == email:
                raise Conflict(f"another user has the email {user.email!r}")

    def update_user(self, user: User, previous: User) -> None:
        with self._s.lock:
            if user.user_id not in self._s.state.users:
                raise NotFound(f"no user {user.user_id!r}")
            self._email_free(user)
            self._s.state.users[user.user_id] = user

    def delete_user(self, user_id: str, at: float) -> bool:
        with self._s.lock:
            if self._s.state.users.pop(user_id, None) is None:
                return False
            for digest, key in list(self._s.state.api_keys.items()):
                if key.user_id == user_id and key.revoked_at is None:
                    self._s.state.api_keys[digest] = replace(key, revoked_at=at)
            return True

    def get_user(self, user_id: str) -> User | None:
        with self._s.lock:
            return self._s.state.users.get(user_id)

    def list_users(self, cursor: str | None = None, limit: int = 50) -> Page[User]:
        after = decode_cursor(cursor) if cursor else ""
        with self._s.lock:
            users = sorted(self._s.state.users.values(), key=lambda u: u.user_id)
        matching = [u for u in users if u.user_id > after]
        return page_of(matching, limit, lambda user: user.user_id)

    def add_key(self, key: ApiKey) -> None:
        with self._s.lock:
            self._s.state.api_keys[key.key_hash] = key

    def revoke_key(self, user_id: str, key_id: str, at: float) -> bool:
        with self._s.lock:
            for digest, key in self._s.state.api_keys.items():
                if key.key_id == key_id and key.user_id == user_id and key.revoked_at is None:
                    self._s.state.api_keys[digest] = replace(key, revoked_at=at)
                    return True
            return False

    def find_key(self, key_hash: str) -> ApiKey | None:
        with self._s.lock:
            return self._s.state.api_keys.get(key_hash)

    def list_keys(self, user_id: str) -> list[ApiKey]:
        with self._s.lock:
            keys = [k for k in self._s.state.api_keys.values() if k.user_id == user_id]
        return sorted(keys, key=lambda k: k.created_at)


class MemoryQueue:
    """:class:`~jobgate.ports.JobQueue` and :class:`~jobgate.ports.DeadLetters`, with SQS's
    semantics (visibility, receipts, receive counts, a dead-letter queue) on the clock."""

    def __init__(self, store: _Store, max_receives: int) -> None:
        self._s = store
        self.max_receives = max_receives

    def send(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        now = self._s.clock()
        ids = []
        with self._s.lock:
            for m in messages:
                mid = new_id(now)
                self._s.state.messages[mid] = _Message(
                    mid, m.body, dict(m.attributes), now, now + m.delay_seconds
                )
                ids.append(mid)
            self._s.arrived.notify_all()
        return ids

    def receive(
        self, max_messages: int, wait_seconds: float, visibility_timeout: float
    ) -> list[Delivery]:
        deadline = time.monotonic() + wait_seconds
        with self._s.lock:
            while True:
                got = self._receive_now(max_messages, visibility_timeout)
                remaining = deadline - time.monotonic()
                if got or remaining <= 0:
                    return got
                self._s.arrived.wait(min(remaining, 0.05))

    def _receive_now(self, max_messages: int, visibility_timeout: float) -> list[Delivery]:
        now = self._s.clock()
        visible = sorted(
            (m for m in self._s.state.messages.values() if not m.dead and m.visible_at <= now),
            key=lambda m: m.visible_at,
        )
        got: list[Delivery] = []
        for message in visible:
            if len(got) == max_messages:
                break
            message.receive_count += 1
            if message.receive_count > self.max_receives:
                message.dead, message.receipt, message.visible_at = True, None, now
                continue
            message.receipt = f"{message.message_id}.{message.receive_count}"
            message.visible_at = now + visibility_timeout
            got.append(message.delivery())
        return got

    def _current(self, receipt: str) -> _Message | None:
        message = self._s.state.messages.get(receipt.rsplit(".", 1)[0])
        return message if message is not None and message.receipt == receipt else None

    def ack(self, receipts: Sequence[str]) -> None:
        with self._s.lock:
            for receipt in receipts:
                if self._current(receipt) is not None:
                    del self._s.state.messages[receipt.rsplit(".", 1)[0]]

    def extend(self, receipt: str, visibility_timeout: float) -> None:
        self._set_visible_at(receipt, self._s.clock() + visibility_timeout)

    def release(self, receipt: str, delay_seconds: float) -> None:
        self._set_visible_at(receipt, self._s.clock() + delay_seconds)

    def _set_visible_at(self, receipt: str, at: float) -> None:
        with self._s.lock:
            message = self._current(receipt)
            if message is None or message.dead:
                raise StaleReceipt(f"receipt {receipt} is not the current one")
            message.visible_at = at
            self._s.arrived.notify_all()

    def stats(self) -> QueueStats:
        now = self._s.clock()
        with self._s.lock:
            live = [m for m in self._s.state.messages.values() if not m.dead]
            dead = len(self._s.state.messages) - len(live)
        oldest = min((m.sent_at for m in live), default=None)
        return QueueStats(
            depth=sum(m.visible_at <= now for m in live),
            in_flight=sum(m.visible_at > now and m.receipt is not None for m in live),
            delayed=sum(m.visible_at > now and m.receipt is None for m in live),
            dead_letters=dead,
            oldest_age_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
        )

    def bury(self, delivery: Delivery) -> None:
        with self._s.lock:
            message = self._s.state.messages.get(delivery.message_id)
            if message is not None:
                message.dead, message.receipt = True, None
                message.visible_at = self._s.clock()

    def peek(self, limit: int = 100) -> list[Delivery]:
        with self._s.lock:
            dead = [m for m in self._s.state.messages.values() if m.dead]
        return [m.delivery() for m in sorted(dead, key=lambda m: m.visible_at)[:limit]]

    def redrive(self, message_ids: Sequence[str] | None = None) -> list[Delivery]:
        now = self._s.clock()
        moved = []
        with self._s.lock:
            messages = self._s.state.messages
            chosen = [
                m
                for m in list(messages.values())
                if m.dead and (message_ids is None or m.message_id in message_ids)
            ]
            for old in chosen:
                del messages[old.message_id]
                fresh = _Message(new_id(now), old.body, old.attributes, now, now)
                messages[fresh.message_id] = fresh
                moved.append(fresh.delivery())
            self._s.arrived.notify_all()
        return moved

    def purge(self) -> int:
        with self._s.lock:
            dead = [mid for mid, m in self._s.state.messages.items() if m.dead]
            for mid in dead:
                del self._s.state.messages[mid]
        return len(dead)


class MemoryBlobStore:
    def __init__(self, store: _Store) -> None:
        self._s = store

    def put(self, key: str, data: bytes, content_type: str) -> BlobRef:
        ref = BlobRef(check_key(key), len(data), hashlib.sha256(data).hexdigest(), content_type)
        with self._s.lock:
            self._s.state.blobs[key] = (bytes(data), ref)
        return ref

    def get(self, key: str) -> bytes:
        with self._s.lock:
            found = self._s.state.blobs.get(check_key(key))
        if found is None:
            raise NotFound(f"no blob {key!r}")
        return found[0]

    def head(self, key: str) -> BlobRef | None:
        with self._s.lock:
            found = self._s.state.blobs.get(check_key(key))
        return None if found is None else found[1]

    def signed_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        expires = int(self._s.clock()) + expires_in
        return f"memory://blobs/{check_key(key)}?expires={expires}"


class MemoryNoticeStore:
    """:class:`~jobgate.ports.SubscriptionStore` and :class:`~jobgate.ports.DeliveryStore`."""

    def __init__(self, store: _Store) -> None:
        self._s = store

    def add_subscription(self, subscription: Subscription) -> None:
        with self._s.lock:
            self._s.state.subscriptions[subscription.sub_id] = subscription

    def get_subscription(self, sub_id: str) -> Subscription | None:
        with self._s.lock:
            return self._s.state.subscriptions.get(sub_id)

    def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        with self._s.lock:
            subs = list(self._s.state.subscriptions.values())
        return sorted(
            (s for s in subs if owner is None or s.owner == owner), key=lambda s: s.created_at
        )

    def save_subscription(self, subscription: Subscription) -> None:
        self.add_subscription(subscription)

    def delete_subscription(self, sub_id: str) -> bool:
        with self._s.lock:
            state = self._s.state
            gone = state.subscriptions.pop(sub_id, None) is not None
            for key, d in list(state.deliveries.items()):
                if d.sub_id == sub_id and d.status is DeliveryStatus.PENDING:
                    del state.deliveries[key]
            return gone

    def dispatch(
        self, cursor_name: str, make: Callable[[list[JobEvent]], list[NoticeDelivery]], limit: int
    ) -> int:
        with self._s.atomic():
            state = self._s.state
            position = state.cursors.setdefault(cursor_name, len(state.history))
            events = state.history[position : position + limit]
            if not events:
                return 0
            for delivery in make(events):
                state.deliveries.setdefault(delivery.delivery_id, delivery)
            state.cursors[cursor_name] = position + len(events)
            return len(events)

    def start_cursor(self, name: str) -> None:
        with self._s.lock:
            self._s.state.cursors.setdefault(name, len(self._s.state.history))

    def claim_due(self, now: float, limit: int, lease_seconds: float) -> list[NoticeDelivery]:
        with self._s.lock:
            state = self._s.state
            due = sorted(
                (
                    d
                    for d in state.deliveries.values()
                    if d.status is DeliveryStatus.PENDING
                    and d.next_attempt_at is not None
                    and d.next_attempt_at <= now
                ),
                key=lambda d: d.next_attempt_at or 0,
            )[:limit]
            for d in due:
                state.deliveries[d.delivery_id] = replace(d, next_attempt_at=now + lease_seconds)
            return due

    def save_delivery(self, delivery: NoticeDelivery) -> None:
        with self._s.lock:
            self._s.state.deliveries[delivery.delivery_id] = delivery

    def get_delivery(self, delivery_id: str) -> NoticeDelivery | None:
        with self._s.lock:
            return self._s.state.deliveries.get(delivery_id)

    def deliveries(self, sub_id: str, limit: int = 100) -> list[NoticeDelivery]:
        with self._s.lock:
            mine = [d for d in self._s.state.deliveries.values() if d.sub_id == sub_id]
        return sorted(mine, key=lambda d: (d.created_at, d.delivery_id), reverse=True)[:limit]


class MemoryMailOutbox:
    def __init__(self, store: _Store) -> None:
        self._s = store

    def send(self, recipient: str, subject: str, text: str, at: float) -> None:
        with self._s.lock:
            self._s.state.mail.append((at, recipient, subject, text))

    def read(self, limit: int = 50) -> list[tuple[float, str, str, str]]:
        with self._s.lock:
            return list(reversed(self._s.state.mail))[:limit]


class MemoryScheduleStore:
    def __init__(self, store: _Store) -> None:
        self._s = store

    def get_state(self, name: str) -> ScheduleState:
        with self._s.lock:
            return self._s.state.schedules.get(name) or ScheduleState(name, None)

    def advance(self, state: ScheduleState, last_tick: float, missed: int) -> bool:
        with self._s.lock:
            current = self._s.state.schedules.get(state.name)
            if (current.version if current else 0) != state.version:
                return False
            self._s.state.schedules[state.name] = ScheduleState(
                state.name, last_tick, missed, state.version + 1
            )
            return True


def memory_backend(
    clock: Callable[[], float] = time.time,
    *,
    max_receives: int = 5,
    event_retention_seconds: float = 30 * 86400,
) -> Backend:
    """A fresh in-memory backend whose times all come from ``clock``."""
    store = _Store(clock)
    store.state.cursors["notifications"] = 0  # notices from the first event on
    queue = MemoryQueue(store, max_receives)
    notices = MemoryNoticeStore(store)
    return Backend(
        name="memory",
        jobs=MemoryJobStore(store, event_retention_seconds),
        users=MemoryUserStore(store),
        queue=queue,
        dead_letters=queue,
        blobs=MemoryBlobStore(store),
        schedules=MemoryScheduleStore(store),
        atomic=store.atomic,
        close=lambda: None,
        inline_io=True,
        subscriptions=notices,
        notices=notices,
        mail_outbox=MemoryMailOutbox(store),
    )
