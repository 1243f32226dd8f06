"""Settling an attempt: the retry policy, and what becomes of the job and its message.

    handler returned ─► result blob (when large, deterministic key) ─► complete ─► ACK
    cancel requested ─► cancel_attempt ─────────────────────────────────────────► ACK
    retryable error, attempts left ─► schedule_retry (backoff) ─────────────────► RELEASE(delay)
    permanent error, or the last attempt ─► fail ───────────────────────────────► BURY
    lease lost (another attempt holds the job), or storage trouble ─────────────► LEAVE

Every write is fenced (:func:`~jobgate.services.attempt.write_fenced`). An attempt is settled
once: the first of the handler, the watchdog (timeout) and shutdown wins; later outcomes are
discarded. Settling writes only the ledger; the runtime acts on the returned
:class:`~jobgate.services.attempt.MessageAction`. Runs finished together are settled together
(:meth:`Settler.settle_many`): their writes in one transaction locally, in one request on
DynamoDB with ``batch_writes``; a run whose write met a conflict is settled again alone, on the
stored job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from jobgate.domain import transitions as verbs
from jobgate.domain.models import Job, JobError, JobStatus
from jobgate.domain.retry import Backoff
from jobgate.domain.transitions import Transition
from jobgate.errors import (
    IllegalTransition,
    JobFailure,
    JobGateError,
    LeaseLost,
    TransitionConflict,
    ValidationFailed,
)
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.services.attempt import MessageAction, Outcome, Run, store_all, write_fenced
from jobgate.services.jobs import result_key


class Settler:
    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        backoff: Backoff,
        inline_result_bytes: int,
        batch_writes: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._together = batch_writes
        self._backoff = backoff
        self._inline_result_bytes = inline_result_bytes
        self._clock = clock
        self._log = get_logger(worker_id=worker_id)

    def settle(self, run: Run, outcome: Outcome) -> MessageAction:
        """Decide and store what ``outcome`` means for the job. Never raises."""

        def step() -> MessageAction:
            decide, action = self._plan(run, outcome)
            write_fenced(self._b.jobs, run, decide)
            return action

        return self._once(run, step)

    def settle_many(self, finished: Sequence[tuple[Run, Outcome]]) -> list[MessageAction]:
        """:meth:`settle` for several runs (the caller holds their locks), in order: their
        writes stored together; one that met a conflict is written again alone through
        :func:`~jobgate.services.attempt.write_fenced` (decided again on the stored job)."""
        steps: list[Callable[[], MessageAction]] = []
        planned: list[tuple[int, Callable[[Job], Transition], MessageAction, Transition]] = []
        for run, outcome in finished:
            if run.settled:  # _once says so, and leaves the message
                steps.append(partial(MessageAction.leave, "discarded"))
                continue
            try:
                decide, action = self._plan(run, outcome)
                planned.append((len(steps), decide, action, decide(run.job)))
                steps.append(partial(MessageAction.leave))  # replaced below
            except IllegalTransition as exc:  # our copy allows no write: the lease is lost
                run.cancel.set()
                lost = LeaseLost(f"job {run.job.job_id} attempt {run.job.attempt}: {exc}", None)
                steps.append(partial(_raise, lost))
            except JobGateError as exc:  # storage trouble (a result blob): leave it
                steps.append(partial(_raise, exc))
        stored: list[Job | TransitionConflict | JobGateError]
        try:
            stored = list(store_all(self._b.jobs, [p[3] for p in planned], self._together))
        except JobGateError as exc:
            stored = [exc] * len(planned)
        for (index, decide, action, _), result in zip(planned, stored, strict=True):
            steps[index] = partial(self._stored, finished[index][0], decide, action, result)
        return [self._once(run, step) for (run, _), step in zip(finished, steps, strict=True)]

    def _stored(
        self,
        run: Run,
        decide: Callable[[Job], Transition],
        action: MessageAction,
        result: Job | TransitionConflict | JobGateError,
    ) -> MessageAction:
        """What a batched write came to: the run's new record, or its write again alone."""
        if isinstance(result, TransitionConflict):
            if result.current is None:
                raise LeaseLost(f"job {run.job.job_id} vanished", None)
            run.job = result.current
            if result.current.cancel_requested:
                run.cancel.set()
            write_fenced(self._b.jobs, run, decide)
        elif isinstance(result, JobGateError):
            raise result
        else:
            run.job = result
        return action

    def expire(self, run: Run, limit: float) -> MessageAction:
        """The attempt ran past ``limit`` seconds: a retryable failure; the handler is told."""
        run.cancel.set()
        error = TimeoutError(f"attempt exceeded its time limit of {limit:g} s")
        return self.settle(run, Outcome(error=error))

    def abandon(self, run: Run, reason: str) -> MessageAction:
        """Hand the job back at once (worker shutdown); the attempt still counts."""
        run.cancel.set()

        def requeue() -> MessageAction:
            write_fenced(self._b.jobs, run, self._bound(run, partial(verbs.requeue, reason=reason)))
            return MessageAction.release(0, "released")

        return self._once(run, requeue)

    def _once(self, run: Run, step: Callable[[], MessageAction]) -> MessageAction:
        log = self._log.bind(job_id=run.job.job_id, attempt=run.job.attempt, owner=run.job.owner)
        with run.lock:
            if run.settled:
                log.info("late_result_discarded")  # the watchdog or shutdown settled it first
                return MessageAction.leave("discarded")
            run.settled = True
            try:
                action = step()
            except LeaseLost:
                log.warning("lease_lost")
                return MessageAction.leave("lease_lost")
            except JobGateError as exc:
                # Storage trouble: leave the message; it comes back after the visibility
                # timeout and the next delivery converges.
                log.error("settle_failed", error=str(exc))
                return MessageAction.leave("settle_failed")
        log.info("job_settled", status=action.status, job_type=run.job.type)
        return action

    def _bound(self, run: Run, verb: Callable[..., Transition]) -> Callable[[Job], Transition]:
        """``verb`` for this run's attempt, now: the ``decide`` of a fenced write."""
        attempt, now = run.job.attempt, self._clock()
        return lambda job: verb(job, attempt=attempt, now=now)

    def _plan(
        self, run: Run, outcome: Outcome
    ) -> tuple[Callable[[Job], Transition], MessageAction]:
        """What to store (a verb bound to the run's attempt) and what to do with the message.
        A large result is stored as a blob here, before the ledger write that points at it."""
        if self._cancel_requested(run):
            # whatever the handler did after it was told to stop
            return self._bound(run, verbs.cancel_attempt), MessageAction.ack(
                JobStatus.CANCELLED.value
            )
        if outcome.error is None:
            return self._completed(run, outcome.result)
        return self._failed(run, outcome.error)

    def _cancel_requested(self, run: Run) -> bool:
        if run.job.cancel_requested:
            return True
        if not run.cancel.is_set():
            return False
        # The handler was told to stop; our copy of the job may predate the request.
        current = self._b.jobs.get(run.job.job_id)
        return bool(current and current.attempt == run.job.attempt and current.cancel_requested)

    def _completed(
        self, run: Run, result: Any
    ) -> tuple[Callable[[Job], Transition], MessageAction]:
        encoded = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
        artifacts = tuple(run.artifacts.values())
        done = MessageAction.ack(JobStatus.COMPLETED.value)
        if len(encoded) > self._inline_result_bytes:
            key = result_key(run.job.owner, run.job.job_id)
            ref = self._b.blobs.put(key, encoded, "application/json")
            return self._bound(
                run, partial(verbs.complete, result_ref=ref, artifacts=artifacts)
            ), done
        return self._bound(run, partial(verbs.complete, result=result, artifacts=artifacts)), done

    def _failed(
        self, run: Run, exc: BaseException
    ) -> tuple[Callable[[Job], Transition], MessageAction]:
        retryable = (
            exc.retryable if isinstance(exc, JobFailure) else not isinstance(exc, ValidationFailed)
        )
        error = JobError(type(exc).__name__, str(exc)[:2000] or type(exc).__name__, retryable)
        if retryable and run.job.attempt < run.job.max_attempts:
            delay = self._backoff.delay(run.job.attempt)
            retry = partial(verbs.schedule_retry, error=error, delay=delay)
            return self._bound(run, retry), MessageAction.release(delay, "retry")
        return self._bound(run, partial(verbs.fail, error=error)), MessageAction.bury(
            JobStatus.FAILED.value
        )


def _raise(exc: JobGateError) -> MessageAction:
    raise exc
