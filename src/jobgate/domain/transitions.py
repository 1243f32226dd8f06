"""A job's state changes as domain verbs. Pure: no I/O, no clock (``now`` is passed in).

Each verb takes the job as read (and what the move needs: now, attempt, lease, error) and
returns a :class:`Transition`: the changes to store and the event to append, both written by
:meth:`~jobgate.ports.JobStore.transition` in one atomic compare-and-set. A move the job's state
does not allow raises :class:`~jobgate.errors.IllegalTransition`; nothing else decides which
moves are legal.

    queued ──claim──► processing ──complete──────► completed
      ▲  ▲                │  │ └──fail──────────► failed ──redrive──► queued
      │  └─schedule_retry─┘  │ └──cancel_attempt─► cancelled
      │  └─requeue / expire_lease (lease dead)
      └─cancel──────────────────────────────────► cancelled
    processing ──cancel──► processing (cancel_requested; the handler sees ctx.cancelled())

Verbs that act for one attempt (``attempt=n``) are fenced: they are legal only while the job is
``processing`` with that very attempt, so a worker whose lease was taken over can change
nothing. Terminal states never change, except ``failed`` by an operator's ``redrive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from jobgate.domain.ids import new_id
from jobgate.domain.models import (
    BlobRef,
    EventKind,
    Job,
    JobError,
    JobEvent,
    JobStatus,
    Progress,
)
from jobgate.errors import IllegalTransition


@dataclass(frozen=True, slots=True)
class Transition:
    """One decided move: store ``changes`` iff the stored job is still at ``job.version``,
    and append ``event`` (None for bookkeeping writes: heartbeats, most progress) in the same
    write."""

    job: Job
    changes: Mapping[str, Any]
    event: JobEvent | None = None

    @property
    def after(self) -> Job:
        """The job as it will be stored (version + 1)."""
        return replace(self.job, **self.changes, version=self.job.version + 1)


def event(
    job: Job,
    kind: EventKind,
    status: JobStatus,
    now: float,
    attempt: int | None = None,
    **detail: Any,
) -> JobEvent:
    """A new event for ``job`` (its id fixed now, so every copy of it names the same event)."""
    return JobEvent(
        event_id=new_id(now),
        job_id=job.job_id,
        owner=job.owner,
        job_type=job.type,
        kind=kind,
        status=status,
        attempt=job.attempt if attempt is None else attempt,
        at=now,
        detail=detail,
    )


def _illegal(job: Job, verb: str, why: str = "") -> IllegalTransition:
    reason = why or f"it is {job.status.value}"
    return IllegalTransition(
        f"cannot {verb} job {job.job_id}: {reason}", job_status=job.status.value
    )


def _require_unfinished(job: Job, verb: str) -> None:
    if job.terminal:
        raise _illegal(job, verb)


def _require_attempt(job: Job, attempt: int, verb: str) -> None:
    """Fencing: only the holder of the job's current attempt may act for it."""
    if job.status is not JobStatus.PROCESSING:
        raise _illegal(job, verb)
    if job.attempt != attempt:
        raise _illegal(job, verb, f"attempt {attempt} is not current (the job is on {job.attempt})")


def lease_live(job: Job, now: float) -> bool:
    return job.status is JobStatus.PROCESSING and (job.lease_expires_at or 0) > now


_LEASE_CLEARED: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def submitted(job: Job) -> JobEvent:
    """The first event of a job about to be created (queued)."""
    if job.status is not JobStatus.QUEUED or job.attempt != 0:
        raise _illegal(job, "submit", "a new job is queued with no attempt yet")
    return event(job, EventKind.SUBMITTED, JobStatus.QUEUED, job.created_at, 0)


def claim(job: Job, *, now: float, worker: str, lease_seconds: float) -> Transition:
    """Start the next attempt: queued (or processing whose lease died) → processing."""
    if job.status is JobStatus.PROCESSING:
        if lease_live(job, now):
            raise _illegal(job, "claim", f"attempt {job.attempt} holds a live lease")
    elif job.status is not JobStatus.QUEUED:
        raise _illegal(job, "claim")
    if job.attempt >= job.max_attempts:
        raise _illegal(job, "claim", f"all {job.max_attempts} attempts are used")
    attempt = job.attempt + 1
    changes = {
        "status": JobStatus.PROCESSING,
        "attempt": attempt,
        "lease_owner": worker,
        "lease_expires_at": now + lease_seconds,
        "updated_at": now,
        "run_after": None,
        "started_at": job.started_at or now,
    }
    return Transition(
        job,
        changes,
        event(job, EventKind.CLAIMED, JobStatus.PROCESSING, now, attempt, worker=worker),
    )


def heartbeat(job: Job, *, attempt: int, now: float, lease_seconds: float) -> Transition:
    """Extend the attempt's lease (no history line)."""
    _require_attempt(job, attempt, "heartbeat")
    return Transition(job, {"lease_expires_at": now + lease_seconds, "updated_at": now})


PROGRESS_STEP = 10.0  # percent: a progress event each time the progress crosses a tenth


def report_progress(job: Job, *, attempt: int, now: float, progress: Progress) -> Transition:
    """Store the handler's progress. Throttled history: an event (and a ``job.progress``
    notice, for the subscriptions that ask) only when it crosses a tenth (10 %, 20 %, …), so a
    handler reporting every item writes at most ten events per attempt."""
    _require_attempt(job, attempt, "report progress")
    crossed = progress.pct // PROGRESS_STEP > job.progress.pct // PROGRESS_STEP
    note = event(
        job, EventKind.PROGRESS, JobStatus.PROCESSING, now,
        percent=progress.pct, note=progress.note,
    ) if crossed else None  # fmt: skip
    return Transition(job, {"progress": progress, "updated_at": now}, note)


def _finished(now: float) -> dict[str, Any]:
    return {**_LEASE_CLEARED, "updated_at": now, "finished_at": now}


def complete(
    job: Job,
    *,
    attempt: int,
    now: float,
    result: Any = None,
    result_ref: BlobRef | None = None,
    artifacts: tuple[BlobRef, ...] = (),
) -> Transition:
    """The attempt succeeded: processing → completed, with its result (inline or a blob)."""
    _require_attempt(job, attempt, "complete")
    changes = {
        **_finished(now),
        "status": JobStatus.COMPLETED,
        "result": None if result_ref is not None else result,
        "result_ref": result_ref,
        "artifacts": artifacts,
        "error": None,
        "progress": Progress(100.0, job.progress.note),
    }
    return Transition(job, changes, event(job, EventKind.COMPLETED, JobStatus.COMPLETED, now))


def schedule_retry(
    job: Job, *, attempt: int, now: float, error: JobError, delay: float
) -> Transition:
    """The attempt failed and may be retried: processing → queued, runnable after ``delay``."""
    _require_attempt(job, attempt, "schedule a retry of")
    if attempt >= job.max_attempts:
        raise _illegal(job, "schedule a retry of", f"all {job.max_attempts} attempts are used")
    changes = {
        **_LEASE_CLEARED,
        "status": JobStatus.QUEUED,
        "error": error,
        "run_after": now + delay,
        "updated_at": now,
    }
    retry = event(
        job,
        EventKind.RETRY_SCHEDULED,
        JobStatus.QUEUED,
        now,
        error=error.type,
        message=error.message,
        delay=delay,
    )
    return Transition(job, changes, retry)


def fail(job: Job, *, now: float, error: JobError, attempt: int | None = None) -> Transition:
    """The job failed for good. With ``attempt``: that running attempt failed (fenced).
    Without: the job was lost outside any attempt (its last lease died, or the queue
    dead-lettered its message), from any unfinished state."""
    if attempt is not None:
        _require_attempt(job, attempt, "fail")
    else:
        _require_unfinished(job, "fail")
    changes = {**_finished(now), "status": JobStatus.FAILED, "error": error}
    return Transition(
        job, changes, event(job, EventKind.FAILED, JobStatus.FAILED, now, error=error.type)
    )


def cancel(job: Job, *, now: float) -> Transition:
    """A client's cancel: queued → cancelled at once; processing → ``cancel_requested`` (the
    running handler sees ``ctx.cancelled()`` and the attempt ends as cancelled)."""
    _require_unfinished(job, "cancel")
    if job.status is JobStatus.QUEUED:
        changes: dict[str, Any] = {
            "status": JobStatus.CANCELLED,
            "updated_at": now,
            "finished_at": now,
        }
        return Transition(job, changes, event(job, EventKind.CANCELLED, JobStatus.CANCELLED, now))
    if job.cancel_requested:
        raise _illegal(job, "cancel", "a cancel was already requested")
    return Transition(
        job,
        {"cancel_requested": True, "updated_at": now},
        event(job, EventKind.CANCEL_REQUESTED, job.status, now),
    )


def cancel_attempt(job: Job, *, attempt: int, now: float) -> Transition:
    """The running attempt stopped because a cancel was requested: processing → cancelled."""
    _require_attempt(job, attempt, "cancel the attempt of")
    changes = {**_finished(now), "status": JobStatus.CANCELLED}
    return Transition(job, changes, event(job, EventKind.CANCELLED, JobStatus.CANCELLED, now))


def requeue(job: Job, *, attempt: int, now: float, reason: str) -> Transition:
    """Hand a running attempt back (worker shutdown): processing → queued, runnable at once.
    The attempt still counts."""
    _require_attempt(job, attempt, "requeue")
    changes = {**_LEASE_CLEARED, "status": JobStatus.QUEUED, "updated_at": now}
    return Transition(
        job, changes, event(job, EventKind.RELEASED, JobStatus.QUEUED, now, reason=reason)
    )


def expire_lease(job: Job, *, now: float) -> Transition:
    """A lease that died without its message coming back: processing → queued."""
    if job.status is not JobStatus.PROCESSING:
        raise _illegal(job, "expire the lease of")
    if lease_live(job, now):
        raise _illegal(job, "expire the lease of", "its lease is live")
    changes = {**_LEASE_CLEARED, "status": JobStatus.QUEUED, "updated_at": now}
    return Transition(job, changes, event(job, EventKind.LEASE_EXPIRED, JobStatus.QUEUED, now))


def resend(job: Job, *, now: float) -> Transition:
    """A queued job whose message may be lost gets a new one: the job is touched, so it is
    not re-sent again before another full period."""
    if job.status is not JobStatus.QUEUED:
        raise _illegal(job, "re-send")
    return Transition(job, {"updated_at": now}, event(job, EventKind.RESENT, JobStatus.QUEUED, now))


def redrive(job: Job, *, now: float, extra_attempts: int) -> Transition:
    """An operator's decision to run a failed job again: failed → queued, with a fresh budget
    of ``extra_attempts`` (the attempt counter keeps counting: it is the fencing token)."""
    if job.status is not JobStatus.FAILED:
        raise _illegal(job, "redrive", f"it is {job.status.value}; only failed jobs are redriven")
    changes = {
        "status": JobStatus.QUEUED,
        "max_attempts": job.attempt + max(1, extra_attempts),
        "error": None,
        "finished_at": None,
        "run_after": None,
        "updated_at": now,
    }
    return Transition(job, changes, event(job, EventKind.REDRIVEN, JobStatus.QUEUED, now))
