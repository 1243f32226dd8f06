"""The ports: what the services need from a backend, at the domain's level.

Each backend (``local``: SQLite + files; ``aws``: DynamoDB, SQS, S3) implements every port, and
one contract suite (``tests/contract``) runs against each. Ports are synchronous: sqlite3 and
boto3 are, and concurrency comes from threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
from jobgate.domain.notices import NoticeDelivery, Subscription, TopicMessage
from jobgate.domain.transitions import Transition
from jobgate.errors import TransitionConflict


class JobStore(Protocol):
    """The job ledger: the source of truth for every job."""

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        """Insert ``job`` and its first event (:func:`~jobgate.domain.transitions.submitted`)
        in one atomic write.

        When ``job.idempotency_key`` is set and the same owner already has a job with that key,
        nothing is written and ``(existing_job, False)`` is returned; otherwise ``(job, True)``.
        Keys are scoped to the owner: two owners may use the same key.
        """
        ...

    def create_many(self, items: Sequence[tuple[Job, JobEvent]]) -> list[tuple[Job, bool]]:
        """:meth:`create` for each ``(job, event)`` in order, in as few writes as the backend
        allows (a key used twice in ``items`` replays the first). All or nothing is not
        promised: on an error, :meth:`withdraw` each job the caller will not report."""
        ...

    def withdraw(self, job: Job) -> None:
        """Undo a :meth:`create` whose submit failed before anyone was told of the job (the
        queue refused its message): remove the job, its history and its idempotency key, iff
        it is still at version 1. Where ``atomic()`` is a transaction (local) a failed submit
        rolls back instead and this is not needed."""
        ...

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is none with that id."""
        ...

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs that exist among ``job_ids``, by id (one read for a worker's batch)."""
        ...

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        """Jobs newest first (``owner=None``: every owner's), filtered, paged by opaque cursor."""
        ...

    def transition(self, transition: Transition) -> Job:
        """Compare-and-set: store ``transition.changes`` and append ``transition.event`` (if
        any) in one atomic write, iff the stored version still equals ``transition.job.version``.

        No crash can leave the state change without its history line or the line without the
        change (local: one SQLite transaction; aws: the event rides in the same conditional
        UpdateItem). Returns the new record (version + 1).
        Raises :class:`~jobgate.errors.TransitionConflict` carrying the stored job (or None
        when it vanished) if the version moved on: the caller lost a race and must re-read.
        """
        ...

    def transition_many(self, transitions: Sequence[Transition]) -> list[Job | TransitionConflict]:
        """:meth:`transition` for several jobs (each once), in as few requests as the backend
        allows: for each, in order, the new record or the conflict it met. Each is decided on
        its own compare-and-set; no all-or-nothing is promised. Other errors raise."""
        ...

    def events(self, job_id: str, limit: int = 200) -> list[JobEvent]:
        """The job's history, oldest first (events past retention may be gone)."""
        ...

    def stale(self, status: JobStatus, before: float, limit: int = 100) -> list[Job]:
        """Jobs in ``status`` not touched since ``before``.

        For ``processing`` the lease decides (``lease_expires_at < before``); for other states
        ``updated_at < before``. The reconciler uses this to find lost work.
        """
        ...

    def expire_events(self, before: float) -> int:
        """Delete events whose retention ended before ``before``; return how many went."""
        ...


class UserStore(Protocol):
    """Users (seed 000's fields) and their hashed API keys."""

    def create_user(self, user: User) -> None:
        """Insert; raise :class:`~jobgate.errors.Conflict` when the user id, or the email
        (compared without case), is taken."""
        ...

    def update_user(self, user: User, previous: User) -> None:
        """Store ``user``'s name and email (``previous``: as read); Conflict when the new email
        belongs to another user, NotFound when the user is gone."""
        ...

    def delete_user(self, user_id: str, at: float) -> bool:
        """Remove the user (freeing their email) and revoke their keys at ``at``; False when
        there was no such user. Their jobs stay."""
        ...

    def get_user(self, user_id: str) -> User | None: ...

    def list_users(self, cursor: str | None = None, limit: int = 50) -> Page[User]: ...

    def add_key(self, key: ApiKey) -> None: ...

    def revoke_key(self, user_id: str, key_id: str, at: float) -> bool:
        """Mark the key revoked; False when the user has no such live key."""
        ...

    def find_key(self, key_hash: str) -> ApiKey | None:
        """The key whose sha256 is ``key_hash`` (revoked or not), or None."""
        ...

    def list_keys(self, user_id: str) -> list[ApiKey]: ...


class JobQueue(Protocol):
    """A consumer-style queue with SQS semantics.

    ``receive`` hides each message for the visibility timeout and hands out a receipt;
    ``ack`` deletes, ``extend`` pushes the timeout out (heartbeat), ``release`` makes it visible
    again after a delay (retry backoff). A message received more often than the queue's maximum
    without being acked moves to the dead-letter queue. Delivery is at least once.
    """

    def send(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Enqueue a batch (atomic on local); return the message ids in order."""
        ...

    def receive(
        self, max_messages: int, wait_seconds: float, visibility_timeout: float
    ) -> list[Delivery]:
        """Up to ``max_messages`` visible messages; blocks up to ``wait_seconds`` while empty
        and returns as soon as a message arrives (long polling). ``[]`` on timeout."""
        ...

    def ack(self, receipts: Sequence[str]) -> None:
        """Delete the messages. A stale receipt is ignored (as SQS may), never an error."""
        ...

    def extend(self, receipt: str, visibility_timeout: float) -> None:
        """Hide the message for ``visibility_timeout`` more seconds from now.
        Raises :class:`~jobgate.errors.StaleReceipt` when the receipt is no longer current."""
        ...

    def release(self, receipt: str, delay_seconds: float) -> None:
        """Make the message visible again after ``delay_seconds`` (0: at once)."""
        ...

    def stats(self) -> QueueStats: ...


class DeadLetters(Protocol):
    """The dead-letter queue beside the job queue."""

    def bury(self, delivery: Delivery) -> None:
        """Move a received message to the dead-letter queue (the job's last attempt failed)."""
        ...

    def peek(self, limit: int = 100) -> list[Delivery]:
        """Dead-lettered messages, oldest first, without taking them."""
        ...

    def redrive(self, message_ids: Sequence[str] | None = None) -> list[Delivery]:
        """Move messages (all when None) back to the job queue; return what moved."""
        ...

    def purge(self) -> int:
        """Delete every dead-lettered message; return how many."""
        ...


class BlobStore(Protocol):
    """Payloads, results and artifacts, under deterministic keys."""

    def put(self, key: str, data: bytes, content_type: str) -> BlobRef:
        """Write atomically: readers see the old blob, or the whole new one, never a part."""
        ...

    def get(self, key: str) -> bytes:
        """The blob's bytes; :class:`~jobgate.errors.NotFound` when absent."""
        ...

    def head(self, key: str) -> BlobRef | None:
        """The blob's reference when it exists."""
        ...

    def signed_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A URL anyone holding it may GET until it expires (relative for the local backend)."""
        ...


class SignedBlobServer(Protocol):
    """For backends whose blob URLs the API serves itself (local): check and resolve one."""

    def resolve(
        self, key: str, expires: int, signature: str, filename: str | None
    ) -> tuple[Path, BlobRef]:
        """The file behind a signed URL; :class:`~jobgate.errors.Forbidden` when the signature
        is not ours or has expired, :class:`~jobgate.errors.NotFound` when the blob is gone."""
        ...


class SubscriptionStore(Protocol):
    """Who hears about jobs: notification subscriptions, per owner."""

    def add_subscription(self, subscription: Subscription) -> None: ...

    def get_subscription(self, sub_id: str) -> Subscription | None: ...

    def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        """An owner's subscriptions (``None``: everyone's), oldest first."""
        ...

    def save_subscription(self, subscription: Subscription) -> None:
        """Store a changed subscription (status, secrets, failure marks)."""
        ...

    def delete_subscription(self, sub_id: str) -> bool:
        """Remove it and its pending deliveries; False when there was none."""
        ...


class DeliveryStore(Protocol):
    """Notices on their way to subscribers: an outbox with retries.

    Deliveries are made from the job history by the dispatcher (``feed``: the events after a
    cursor, and the cursor moving on together with the deliveries it made, atomically), so an
    event committed is delivered even when a process dies right after the commit; a delivery
    is claimed for a short lease before it is sent, so two senders never send it at once.
    """

    def dispatch(
        self, cursor_name: str, make: Callable[[list[JobEvent]], list[NoticeDelivery]], limit: int
    ) -> int:
        """Read up to ``limit`` events after the cursor, store the deliveries ``make`` makes of
        them (a delivery id already stored is kept as it is) and move the cursor past them, in
        one atomic step. Returns how many events were read (0: nothing new)."""
        ...

    def start_cursor(self, name: str) -> None:
        """Create the cursor at the current end of the history, unless it exists: a new
        dispatcher starts from now (no flood of old notices), a restarted one resumes."""
        ...

    def claim_due(self, now: float, limit: int, lease_seconds: float) -> list[NoticeDelivery]:
        """Pending deliveries due by ``now``, each pushed ``lease_seconds`` into the future so
        no other sender takes it meanwhile."""
        ...

    def save_delivery(self, delivery: NoticeDelivery) -> None: ...

    def get_delivery(self, delivery_id: str) -> NoticeDelivery | None: ...

    def deliveries(self, sub_id: str, limit: int = 100) -> list[NoticeDelivery]:
        """A subscription's deliveries, newest first."""
        ...


class NoticeTopic(Protocol):
    """A pub/sub topic every notice is published to (SNS on AWS), and the subscriptions it
    delivers itself (email, SMS), each with a filter policy on the message attributes."""

    def publish(self, messages: Sequence[TopicMessage]) -> None:
        """Publish each message with its attributes; raises when any was not taken."""
        ...

    def subscribe(
        self, protocol: str, endpoint: str, filter_policy: Mapping[str, list[str]]
    ) -> tuple[str, bool]:
        """A new subscription: (its id, whether it awaits the subscriber's confirmation)."""
        ...

    def pending(self, subscription_id: str) -> bool:
        """Whether the subscription still awaits confirmation."""
        ...

    def unsubscribe(self, subscription_id: str) -> None: ...


class MailOutbox(Protocol):
    """Where email goes when no SMTP server is configured (local backend): ``jobgate outbox``."""

    def send(self, recipient: str, subject: str, text: str, at: float) -> None: ...

    def read(self, limit: int = 50) -> list[tuple[float, str, str, str]]:
        """The newest messages first: (time, recipient, subject, body)."""
        ...


class ScheduleStore(Protocol):
    """Where each schedule stands, shared by every scheduler process."""

    def get_state(self, name: str) -> ScheduleState: ...

    def advance(self, state: ScheduleState, last_tick: float, missed: int) -> bool:
        """Compare-and-set on ``state.version``; False when another scheduler moved first."""
        ...


@dataclass(frozen=True)
class Backend:
    """One backend's adapters, built by :mod:`jobgate.bootstrap`.

    ``atomic()`` groups port calls into one transaction where the backend can (local: one
    SQLite transaction, so a submit writes the record and its message together). On backends
    that cannot (aws), it batches the writes that may wait — job events and message deletes —
    into a few calls at the scope's end (:mod:`jobgate.backends.aws.batching`); the reconciler
    repairs a half-done submit.
    """

    name: str
    jobs: JobStore
    users: UserStore
    queue: JobQueue
    dead_letters: DeadLetters
    blobs: BlobStore
    schedules: ScheduleStore
    atomic: Callable[[], AbstractContextManager[None]]
    close: Callable[[], None]
    blob_server: SignedBlobServer | None = None
    # Notifications (None: this backend has no notification stores yet, and the API says so)
    subscriptions: SubscriptionStore | None = None
    notices: DeliveryStore | None = None
    mail_outbox: MailOutbox | None = None
    # Where every notice is also published (SNS on AWS); None: webhooks and email only
    topic: NoticeTopic | None = None
    # One write transaction around the block, begun within the given seconds, else StorageBusy
    # before the block runs (local: SQLite's write lock); a no-op where writes take no lock.
    write_scope: Callable[[float], AbstractContextManager[None]] = lambda _seconds: nullcontext()
    # True when every port call is fast local I/O (SQLite, files): the API then makes the calls
    # on its event loop. False (network backends): routes run in the thread pool.
    inline_io: bool = False


def transition_each(
    transition: Callable[[Transition], Job], transitions: Sequence[Transition]
) -> list[Job | TransitionConflict]:
    """``JobStore.transition_many`` one compare-and-set at a time: each new record, or the
    conflict it met, in order (what a store without a batched write does)."""
    results: list[Job | TransitionConflict] = []
    for one in transitions:
        try:
            results.append(transition(one))
        except TransitionConflict as conflict:
            results.append(conflict)
    return results
