"""Claiming: what a delivered message means, and the claim of the job when it should run now.

A delivery names a job. The ledger decides: a finished (or unknown) job's message is acked; a
job whose lease is live elsewhere, or whose retry backoff has not ended, has its message
released until then; a job whose last attempt was lost fails and its message is buried;
otherwise the job is claimed (queued → processing, attempt + 1, a lease) and becomes a
:class:`~jobgate.services.attempt.Run`. A batch of deliveries is decided together and its
writes stored together (:meth:`Claimer.begin_many`; on DynamoDB one request with
``batch_writes``); a delivery whose write lost a race is decided again alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobgate.domain import transitions as verbs
from jobgate.domain.models import Delivery, Job, JobError, JobStatus
from jobgate.domain.transitions import Transition
from jobgate.errors import IllegalTransition, TransitionConflict
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.services.attempt import MessageAction, Run, store_all
from jobgate.services.jobs import job_id_of

_TRIES = 5  # races lost in a row before the message is handed back for later


@dataclass(frozen=True, slots=True)
class _Write:
    """A decided write: the claim (its run follows) or the failure of a lost last attempt."""

    transition: Transition
    claims: bool

    def outcome(self, delivery: Delivery, stored: Job) -> Run | MessageAction:
        if self.claims:
            return Run(stored, delivery, math.inf)
        return MessageAction.bury(JobStatus.FAILED.value)


class Claimer:
    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        lease_seconds: float,
        batch_writes: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._worker_id = worker_id
        self._lease = lease_seconds
        self._together = batch_writes
        self._clock = clock
        self._log = get_logger(worker_id=worker_id)

    def read_jobs(self, deliveries: Sequence[Delivery]) -> dict[str, Job]:
        """The jobs a batch of deliveries names, by message id, in one read (``known`` for
        :meth:`begin`). A single delivery is left to ``begin``'s own read."""
        ids = {d.message_id: job_id for d in deliveries if (job_id := job_id_of(d))}
        if len(ids) < 2:
            return {}
        jobs = self._b.jobs.get_many(list(ids.values()))
        return {message: jobs[job_id] for message, job_id in ids.items() if job_id in jobs}

    def begin(self, delivery: Delivery, known: Job | None = None) -> Run | MessageAction:
        """Claim the delivery's job, or say what to do with the message instead.

        ``known`` is the job as just read (by :meth:`read_jobs`), saving the first read.
        The deadline of the returned run is not started (``inf``): the runtime starts it when
        the handler starts.
        """
        job_id = job_id_of(delivery)
        if job_id is None:
            self._log.error("message_unreadable", message_id=delivery.message_id)
            return MessageAction.bury("unreadable")
        for _ in range(_TRIES):
            job, known = known or self._b.jobs.get(job_id), None
            try:
                decided = self._decide(job)
                if not isinstance(decided, _Write):
                    return decided
                return decided.outcome(delivery, self._b.jobs.transition(decided.transition))
            except (TransitionConflict, IllegalTransition):
                continue  # someone moved first: look again
        return MessageAction.release(1)

    def begin_many(self, deliveries: Sequence[Delivery]) -> list[Run | MessageAction]:
        """:meth:`begin` for a batch, in order: one read for its jobs, and its claims stored
        together (``JobStore.transition_many`` with ``batch_writes``, else one by one); a
        delivery whose write met a conflict is decided again alone, on the stored job."""
        known = self.read_jobs(deliveries)
        begun: list[Run | MessageAction | None] = [None] * len(deliveries)
        writes: list[tuple[int, _Write]] = []
        for index, delivery in enumerate(deliveries):
            job = known.get(delivery.message_id)
            if job is None:
                continue  # unread (alone, unreadable or gone): begin decides it
            try:
                decided = self._decide(job)
            except IllegalTransition:
                continue
            if isinstance(decided, _Write):
                writes.append((index, decided))
            else:
                begun[index] = decided
        stored = store_all(self._b.jobs, [w.transition for _, w in writes], self._together)
        for (index, write), result in zip(writes, stored, strict=True):
            delivery = deliveries[index]
            if isinstance(result, TransitionConflict):
                # Lost a race: decide again alone on the stored job (None: re-read).
                begun[index] = self.begin(delivery, result.current)
            else:
                begun[index] = write.outcome(delivery, result)
        return [
            b if b is not None else self.begin(d) for d, b in zip(deliveries, begun, strict=True)
        ]

    def _decide(self, job: Job | None) -> MessageAction | _Write:
        """What a delivery of ``job`` (as read) calls for. Raises IllegalTransition when the
        job's state allows no claim after all (the caller reads again)."""
        now = self._clock()
        if job is None or job.terminal:
            return MessageAction.ack(job.status.value if job else "unknown")
        wait = _must_wait(job, now)
        if wait is not None:
            return MessageAction.release(wait, job.status.value)
        if job.attempt >= job.max_attempts:
            return _Write(verbs.fail(job, now=now, error=_lost(job)), claims=False)
        claim = verbs.claim(job, now=now, worker=self._worker_id, lease_seconds=self._lease)
        return _Write(claim, claims=True)


def _must_wait(job: Job, now: float) -> float | None:
    """Seconds to hide the message for, or None when the job may be claimed now."""
    if verbs.lease_live(job, now):
        return (job.lease_expires_at or now) - now + 1
    if job.run_after is not None and job.run_after > now + 0.5:
        return job.run_after - now
    return None


def _lost(job: Job) -> JobError:
    return JobError(
        "AttemptsExhausted",
        f"attempt {job.attempt} of {job.max_attempts} was lost (worker died or timed out)",
        False,
    )
