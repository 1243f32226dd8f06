"""Repairs and operator actions: the reconciler and the dead-letter queue commands."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from jobgate.domain import transitions as verbs
from jobgate.domain.models import Delivery, Job, JobError, JobStatus
from jobgate.domain.transitions import Transition
from jobgate.errors import IllegalTransition, TransitionConflict
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.registry import JobGate
from jobgate.services.jobs import envelope, job_id_of


@dataclass(frozen=True)
class ReconcileReport:
    resent: int = 0
    leases_expired: int = 0
    dead_lettered_failed: int = 0
    events_expired: int = 0


class Reconciler:
    """Finds lost work and puts it back on track. Safe to run in many processes at once:
    every repair is a compare-and-set, and a duplicate message is harmless (the ledger
    decides whether a job runs)."""

    def __init__(
        self,
        backend: Backend,
        *,
        stale_queued_seconds: float,
        visibility_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._stale_queued = stale_queued_seconds
        self._visibility = visibility_timeout
        self._clock = clock
        self._log = get_logger(component="reconciler")

    def run_once(self) -> ReconcileReport:
        now = self._clock()
        report = ReconcileReport(
            resent=self._resend_stale_queued(now),
            leases_expired=self._expire_dead_leases(now),
            dead_lettered_failed=self._fail_dead_lettered(now),
            events_expired=self._b.jobs.expire_events(now),
        )
        if report != ReconcileReport(events_expired=report.events_expired):
            self._log.info("reconciled", **report.__dict__)
        return report

    def _resend_stale_queued(self, now: float) -> int:
        """A job queued long ago may have no message (send failed after the record was
        written, or the message outlived retention): send a fresh one and touch the job so it
        is not re-sent again before another full period."""
        count = 0
        for job in self._b.jobs.stale(JobStatus.QUEUED, now - self._stale_queued):
            if job.run_after is not None and job.run_after > now - self._stale_queued:
                continue
            if self._apply(verbs.resend, job, now):
                self._b.queue.send([envelope(job)])
                count += 1
        return count

    def _expire_dead_leases(self, now: float) -> int:
        """A lease dead for two visibility timeouts means its message did not come back:
        requeue the job and send a message for it."""
        count = 0
        for job in self._b.jobs.stale(JobStatus.PROCESSING, now - 2 * self._visibility):
            if self._apply(verbs.expire_lease, job, now):
                self._b.queue.send([envelope(job)])
                count += 1
        return count

    def _fail_dead_lettered(self, now: float) -> int:
        """A message the queue dead-lettered (too many receives) leaves its job unfinished:
        mark it failed so nobody waits for it."""
        count = 0
        for delivery in self._b.dead_letters.peek(1000):
            job_id = job_id_of(delivery)
            job = self._b.jobs.get(job_id) if job_id else None
            if job is None or job.terminal:
                continue
            error = JobError(
                "DeadLettered",
                f"the queue dead-lettered the message after {delivery.receive_count} receives",
                False,
            )
            if self._apply(partial(verbs.fail, error=error), job, now):
                count += 1
        return count

    def _apply(self, verb: Callable[..., Transition], job: Job, now: float) -> bool:
        """Store ``verb``'s move; False when the job moved first (its new state stands)."""
        try:
            self._b.jobs.transition(verb(job, now=now))
        except (TransitionConflict, IllegalTransition):
            return False
        return True


class DeadLetterService:
    """``jobgate dlq list | redrive | purge``."""

    def __init__(
        self, backend: Backend, app: JobGate, clock: Callable[[], float] = time.time
    ) -> None:
        self._b = backend
        self._app = app
        self._clock = clock

    def entries(self, limit: int = 100) -> list[tuple[Delivery, Job | None]]:
        result = []
        for delivery in self._b.dead_letters.peek(limit):
            job_id = job_id_of(delivery)
            result.append((delivery, self._b.jobs.get(job_id) if job_id else None))
        return result

    def redrive(self, message_ids: list[str] | None = None) -> int:
        """Move messages back to the queue and give each failed job a fresh attempt budget.

        This is the one way out of ``failed``: an operator's explicit decision, recorded as a
        ``redriven`` event. The attempt counter keeps counting (it is the fencing token), so
        the budget is extended: ``max_attempts = attempt + the type's max_attempts``.
        """
        # The job goes back to ``queued`` before its message moves: a worker that got the
        # message first would find the job still failed and drop the message. A crash in
        # between leaves a queued job without a message, which the reconciler re-sends.
        chosen = [
            d
            for d in self._b.dead_letters.peek(100_000)
            if message_ids is None or d.message_id in message_ids
        ]
        now = self._clock()
        for delivery in chosen:
            job_id = job_id_of(delivery)
            job = self._b.jobs.get(job_id) if job_id else None
            if job is not None and job.status is JobStatus.FAILED:
                self._requeue(job, now)
        if not chosen:
            return 0
        return len(self._b.dead_letters.redrive([d.message_id for d in chosen]))

    def _requeue(self, job: Job, now: float) -> None:
        spec = self._app.job_types.get(job.type)
        transition = verbs.redrive(job, now=now, extra_attempts=spec.max_attempts if spec else 1)
        # someone else moved it: theirs stands
        with contextlib.suppress(TransitionConflict, IllegalTransition):
            self._b.jobs.transition(transition)

    def purge(self) -> int:
        return self._b.dead_letters.purge()
