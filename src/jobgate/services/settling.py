"""Settling an attempt: the retry policy, and what becomes of the job and its message.

    handler returned ─► result blob (when large, deterministic key) ─► complete ─► ACK
    cancel requested ─► cancel_attempt ─────────────────────────────────────────► ACK
    retryable error, attempts left ─► schedule_retry (backoff) ─────────────────► RELEASE(delay)
    permanent error, or the last attempt ─► fail ───────────────────────────────► BURY
    lease lost (another attempt holds the job), or storage trouble ─────────────► LEAVE

Every write is fenced (:func:`~jobgate.services.attempt.write_fenced`). An attempt is settled
once: the first of the handler, the watchdog (timeout) and shutdown wins; later outcomes are
discarded. Settling writes only the ledger; the runtime acts on the returned
:class:`~jobgate.services.attempt.MessageAction`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from jobgate.domain import transitions as verbs
from jobgate.domain.models import Job, JobError, JobStatus
from jobgate.domain.retry import Backoff
from jobgate.domain.transitions import Transition
from jobgate.errors import JobFailure, JobGateError, LeaseLost, ValidationFailed
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.services.attempt import MessageAction, Outcome, Run, write_fenced
from jobgate.services.jobs import result_key


class Settler:
    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        backoff: Backoff,
        inline_result_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._backoff = backoff
        self._inline_result_bytes = inline_result_bytes
        self._clock = clock
        self._log = get_logger(worker_id=worker_id)

    def settle(self, run: Run, outcome: Outcome) -> MessageAction:
        """Decide and store what ``outcome`` means for the job. Never raises."""
        return self._once(run, lambda: self._decide(run, outcome))

    def expire(self, run: Run, limit: float) -> MessageAction:
        """The attempt ran past ``limit`` seconds: a retryable failure; the handler is told."""
        run.cancel.set()
        error = TimeoutError(f"attempt exceeded its time limit of {limit:g} s")
        return self.settle(run, Outcome(error=error))

    def abandon(self, run: Run, reason: str) -> MessageAction:
        """Hand the job back at once (worker shutdown); the attempt still counts."""
        run.cancel.set()

        def requeue() -> MessageAction:
            self._write(run, partial(verbs.requeue, reason=reason))
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

    def _write(self, run: Run, verb: Callable[..., Transition]) -> Job:
        attempt, now = run.job.attempt, self._clock()
        return write_fenced(self._b.jobs, run, lambda job: verb(job, attempt=attempt, now=now))

    def _decide(self, run: Run, outcome: Outcome) -> MessageAction:
        if self._cancel_requested(run):
            return self._cancelled(run)  # whatever the handler did after it was told to stop
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

    def _completed(self, run: Run, result: Any) -> MessageAction:
        encoded = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
        artifacts = tuple(run.artifacts.values())
        if len(encoded) > self._inline_result_bytes:
            key = result_key(run.job.owner, run.job.job_id)
            ref = self._b.blobs.put(key, encoded, "application/json")
            self._write(run, partial(verbs.complete, result_ref=ref, artifacts=artifacts))
        else:
            self._write(run, partial(verbs.complete, result=result, artifacts=artifacts))
        return MessageAction.ack(JobStatus.COMPLETED.value)

    def _cancelled(self, run: Run) -> MessageAction:
        self._write(run, verbs.cancel_attempt)
        return MessageAction.ack(JobStatus.CANCELLED.value)

    def _failed(self, run: Run, exc: BaseException) -> MessageAction:
        retryable = (
            exc.retryable if isinstance(exc, JobFailure) else not isinstance(exc, ValidationFailed)
        )
        error = JobError(type(exc).__name__, str(exc)[:2000] or type(exc).__name__, retryable)
        if retryable and run.job.attempt < run.job.max_attempts:
            delay = self._backoff.delay(run.job.attempt)
            self._write(run, partial(verbs.schedule_retry, error=error, delay=delay))
            return MessageAction.release(delay, "retry")
        self._write(run, partial(verbs.fail, error=error))
        return MessageAction.bury(JobStatus.FAILED.value)
