"""Pure domain records: jobs, their events, users, keys and queue messages. No I/O here.

Times are UTC epoch seconds (``float``) inside the domain; the HTTP layer renders them as
RFC 3339 strings. Records are frozen: a change is a new record (``dataclasses.replace``), which
is what a compare-and-set store needs anyway.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

JSON = Any  # a value json.dumps accepts; pydantic validates it at the HTTP edge

# one encoder for every call: json.dumps with non-default options builds a new one each time
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(value: JSON) -> str:
    """``value`` as compact JSON, non-ASCII characters kept as they are."""
    return _COMPACT.encode(value)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobError:
    """Why an attempt (or the job) failed."""

    type: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class Progress:
    pct: float = 0.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A pointer to a blob: its key in the blob store, size and sha256."""

    key: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Job:
    """One job in the ledger.

    ``attempt`` is the ledger's own counter (not the queue's receive count): claiming a job
    increments it, and only the holder of the current attempt may finish it (fencing).
    ``version`` increases with every stored change and is what compare-and-set checks.
    """

    job_id: str
    owner: str
    type: str
    status: JobStatus
    created_at: float
    updated_at: float
    payload: JSON = None
    payload_ref: BlobRef | None = None
    result: JSON = None
    result_ref: BlobRef | None = None
    artifacts: tuple[BlobRef, ...] = ()
    error: JobError | None = None
    progress: Progress = field(default_factory=Progress)
    attempt: int = 0
    max_attempts: int = 3
    timeout: float = 300.0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    run_after: float | None = None
    cancel_requested: bool = False
    idempotency_key: str | None = None
    request_hash: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    version: int = 1
    trace_parent: str | None = None  # W3C traceparent of the submit: workers' spans join it

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class EventKind(enum.StrEnum):
    """What happened to a job: one kind per domain verb that writes history."""

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    RELEASED = "released"
    RESENT = "resent"
    LEASE_EXPIRED = "lease_expired"
    REDRIVEN = "redriven"
    PROGRESS = "progress"  # throttled: when the handler's progress crosses a tenth


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One line of a job's append-only history (seed 004's time-series table).

    Written in the same atomic write as the state change it records, so the history and the
    state never disagree. ``event_id`` is a ULID fixed when the transition is decided: a
    redelivered notice of the same event carries the same id, so receivers can drop duplicates.
    ``status`` is the job's status after the event.
    """

    event_id: str
    job_id: str
    owner: str
    job_type: str
    kind: EventKind
    status: JobStatus
    attempt: int
    at: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    name: str
    email: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: only its sha256, never the key itself."""

    key_id: str
    user_id: str
    key_hash: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to enqueue: ``body`` is JSON text, ``attributes`` travel beside it (SQS-style)."""

    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message. ``receipt`` names this delivery; ack/extend/release act on it."""

    message_id: str
    receipt: str
    body: str
    receive_count: int
    attributes: dict[str, str] = field(default_factory=dict)
    sent_at: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    in_flight: int
    delayed: int
    dead_letters: int
    oldest_age_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``cursor`` fetches the next page, ``None`` when there is none."""

    items: list[T]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """Where a schedule stands: the last tick enqueued and how many ticks were missed."""

    name: str
    last_tick: float | None
    missed: int = 0
    version: int = 0
