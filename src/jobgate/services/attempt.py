"""One attempt in flight: its record (:class:`Run`), what came of it (:class:`Outcome`), what to
do with its message (:class:`MessageAction`), and the fenced write every step after the claim
goes through.

Fencing: a write for a run is decided by a domain verb that is legal only while the stored job
is ``processing`` with the run's attempt. A compare-and-set lost to our own concurrent writes
(heartbeats, progress, a client's cancel request) is decided again on the stored job; one lost
to another attempt raises :class:`~jobgate.errors.LeaseLost` and the worker walks away.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobgate.domain.models import BlobRef, Delivery, Job
from jobgate.domain.transitions import Transition
from jobgate.errors import IllegalTransition, LeaseLost, TransitionConflict
from jobgate.ports import JobStore, transition_each

_MAX_RACES = 20  # our own concurrent writes a fenced write survives before giving up


class Disposition(enum.StrEnum):
    """What must happen to a delivered message."""

    ACK = "ack"  # delete it: the job is settled (or was never recorded)
    RELEASE = "release"  # make it visible again after ``delay`` (backoff, a live lease elsewhere)
    BURY = "bury"  # move it to the dead-letter queue (failed for good, or unreadable)
    LEAVE = "leave"  # touch nothing: it comes back after its visibility timeout


@dataclass(frozen=True, slots=True)
class MessageAction:
    """Outcomes as data: the runtimes (long-poll worker, Lambda) act on this value."""

    disposition: Disposition
    delay: float = 0.0
    status: str = ""  # the job's status after the step, for logs ("retry" for a retry)

    @classmethod
    def ack(cls, status: str = "") -> MessageAction:
        return cls(Disposition.ACK, status=status)

    @classmethod
    def release(cls, delay: float, status: str = "") -> MessageAction:
        return cls(Disposition.RELEASE, max(0.0, delay), status)

    @classmethod
    def bury(cls, status: str = "") -> MessageAction:
        return cls(Disposition.BURY, status=status)

    @classmethod
    def leave(cls, status: str = "") -> MessageAction:
        return cls(Disposition.LEAVE, status=status)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the handler did: returned ``result``, or raised ``error``."""

    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class Run:
    """One attempt in flight. ``lock`` serialises the handler thread, heartbeats and watchdog."""

    job: Job
    delivery: Delivery
    deadline: float  # time.monotonic() after which the attempt times out
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    settled: bool = False
    artifacts: dict[str, BlobRef] = field(default_factory=dict)
    next_beat: float = 0.0
    last_progress: float = 0.0
    last_cancel_check: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        """(job id, attempt): a timed-out attempt may still run beside the next one."""
        return (self.job.job_id, self.job.attempt)


def store_all(
    jobs: JobStore, transitions: Sequence[Transition], together: bool
) -> list[Job | TransitionConflict]:
    """Each transition stored, or the conflict it met, in order: in one
    ``JobStore.transition_many`` when ``together``, else one ``transition`` each."""
    if together:
        return jobs.transition_many(transitions)
    return transition_each(jobs.transition, transitions)


def write_fenced(jobs: JobStore, run: Run, decide: Callable[[Job], Transition]) -> Job:
    """Store the transition ``decide`` makes of the stored job, for ``run``'s attempt only.

    ``decide`` is a domain verb bound to the run's attempt; when the job moved on without us
    it raises IllegalTransition, which becomes LeaseLost (and the run is told to stop).
    """
    job = run.job
    for _ in range(_MAX_RACES):
        try:
            transition = decide(job)
        except IllegalTransition as exc:
            run.cancel.set()
            raise LeaseLost(f"job {job.job_id} attempt {run.job.attempt}: {exc}", job) from exc
        try:
            run.job = jobs.transition(transition)
            return run.job
        except TransitionConflict as exc:
            if exc.current is None:
                run.cancel.set()
                raise LeaseLost(f"job {job.job_id} vanished", None) from exc
            if exc.current.cancel_requested:
                run.cancel.set()
            job = exc.current
    raise LeaseLost(f"job {job.job_id}: too many concurrent writes", job)
