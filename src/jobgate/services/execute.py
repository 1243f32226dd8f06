"""Running one delivery: claim → run the handler → settle → ack. The retry policy lives here.

Order for one job (a crash between any two steps converges on the next delivery):

    claim (CAS queued|expired-lease → processing, attempt + 1, lease)
      → handler runs (heartbeats extend lease + visibility; the watchdog enforces the timeout)
      → put result blob (deterministic key)
      → CAS processing(attempt n) → completed | queued (retry, backoff) | failed | cancelled
      → ack the message (retry: release it with the backoff delay; failed: bury it in the DLQ)

Fencing: every write after the claim is a compare-and-set that is retried only while the stored
job is still ``processing`` with *this* attempt; otherwise :class:`LeaseLost` and the worker
walks away without acking (the message now belongs to whoever holds the job).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from jobgate.domain.models import (
    BlobRef,
    Delivery,
    Job,
    JobError,
    JobEvent,
    JobStatus,
    Progress,
)
from jobgate.domain.retry import Backoff
from jobgate.errors import (
    JobFailure,
    JobGateError,
    LeaseLost,
    StaleReceipt,
    TransitionConflict,
    ValidationFailed,
)
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.registry import JobGate
from jobgate.services.jobs import artifact_key, job_id_of, read_envelope, result_key

Outcome = Callable[[], str]  # settles one run's outcome; returns the status it reached
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_RELEASE_DELAY = 43_200  # SQS caps visibility at 12 hours
_PROGRESS_EVERY = 0.25  # seconds between progress writes: a chatty handler cannot flood the ledger
_loops = threading.local()


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


class Executor:
    """Turns deliveries into finished jobs. Thread-safe: one instance serves the whole pool."""

    def __init__(
        self,
        backend: Backend,
        app: JobGate,
        *,
        worker_id: str,
        visibility_timeout: float = 300.0,
        backoff: Backoff | None = None,
        inline_result_bytes: int = 65_536,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._app = app
        self.worker_id = worker_id
        self.visibility_timeout = visibility_timeout
        self._backoff = backoff or Backoff()
        self._inline_result_bytes = inline_result_bytes
        self._clock = clock
        self._log = get_logger(worker_id=worker_id)

    # -- claim ----------------------------------------------------------------------------------

    def begin(self, delivery: Delivery, known: Job | None = None) -> Run | None:
        """Decide what the delivery means and claim the job when it should run now.

        ``known`` is the job as just read (by :meth:`begin_many`), saving the first read.
        Returns None when there is nothing to run: the message was acked (job finished or
        never recorded), released until a live lease or a backoff ends, or buried (unreadable
        message, or the last attempt was lost).
        """
        job_id = self._job_id(delivery)
        if job_id is None:
            return None
        for _ in range(5):
            job, known = known or self._b.jobs.get(job_id), None
            now = self._clock()
            if job is None or job.terminal:
                self._b.queue.ack([delivery.receipt])
                return None
            wait = self._must_wait(job, now)
            if wait is not None:
                self._release(delivery, wait)
                return None
            if job.attempt >= job.max_attempts:
                self._fail_lost(job, delivery, now)
                return None
            changes = {
                "status": JobStatus.PROCESSING,
                "attempt": job.attempt + 1,
                "lease_owner": self.worker_id,
                "lease_expires_at": now + self.visibility_timeout,
                "updated_at": now,
                "run_after": None,
                "started_at": job.started_at or now,
            }
            event = JobEvent(
                job_id,
                now,
                "claimed",
                JobStatus.PROCESSING,
                job.attempt + 1,
                {"worker": self.worker_id},
            )
            try:
                claimed = self._b.jobs.transition(job, changes, event)
            except TransitionConflict:
                continue  # someone moved first: look again
            return Run(claimed, delivery, time.monotonic() + claimed.timeout)
        self._release(delivery, 1)
        return None

    @property
    def backend(self) -> Backend:
        return self._b

    def read_jobs(self, deliveries: Sequence[Delivery]) -> dict[str, Job]:
        """The jobs a batch of deliveries names, by message id, in one read (``known`` for
        :meth:`begin`). A single delivery is left to ``begin``'s own read."""
        ids = {d.message_id: job_id for d in deliveries if (job_id := job_id_of(d))}
        if len(ids) < 2:
            return {}
        jobs = self._b.jobs.get_many(list(ids.values()))
        return {message: jobs[job_id] for message, job_id in ids.items() if job_id in jobs}

    def begin_many(self, deliveries: list[Delivery]) -> list[Run]:
        """:meth:`begin` for a batch: one read for all the jobs, then every claim in one
        ``atomic()`` scope (one transaction locally; batched event writes on aws)."""
        known = self.read_jobs(deliveries)
        with self._b.atomic():
            runs = (self.begin(d, known.get(d.message_id)) for d in deliveries)
            return [run for run in runs if run is not None]

    def _job_id(self, delivery: Delivery) -> str | None:
        try:
            return read_envelope(delivery.body)
        except ValueError as exc:
            self._log.error("message_unreadable", message_id=delivery.message_id, error=str(exc))
            self._b.dead_letters.bury(delivery)
            return None

    @staticmethod
    def _must_wait(job: Job, now: float) -> float | None:
        """Seconds to hide the message for, or None when the job may be claimed now."""
        if job.status is JobStatus.PROCESSING and (job.lease_expires_at or 0) > now:
            return job.lease_expires_at - now + 1 if job.lease_expires_at else 1
        if job.run_after is not None and job.run_after > now + 0.5:
            return job.run_after - now
        return None

    def release(self, delivery: Delivery, delay: float) -> None:
        """Give a received message back (visible after ``delay``) without deciding anything."""
        self._release(delivery, delay)

    def _release(self, delivery: Delivery, delay: float) -> None:
        # A stale receipt means a newer delivery exists; it will be decided on its own.
        with contextlib.suppress(StaleReceipt):
            self._b.queue.release(delivery.receipt, min(max(0.0, delay), _MAX_RELEASE_DELAY))

    def _fail_lost(self, job: Job, delivery: Delivery, now: float) -> None:
        """The last attempt died without settling (worker killed, or timed out): fail the job."""
        error = JobError(
            "AttemptsExhausted",
            f"attempt {job.attempt} of {job.max_attempts} was lost (worker died or timed out)",
            False,
        )
        try:
            self._b.jobs.transition(
                job,
                {
                    "status": JobStatus.FAILED,
                    "error": error,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "updated_at": now,
                    "finished_at": now,
                },
                JobEvent(
                    job.job_id, now, "failed", JobStatus.FAILED, job.attempt, {"error": error.type}
                ),
            )
        except TransitionConflict:
            return
        self._b.dead_letters.bury(delivery)

    # -- run ------------------------------------------------------------------------------------

    def execute(self, run: Run) -> None:
        """Run the handler for a claimed attempt and settle the job. Never raises."""
        self.settle(run, self.run_handler(run))

    def run_handler(self, run: Run) -> Outcome:
        """Run the handler; return the step that settles its outcome (not taken yet)."""
        try:
            result = self._call_handler(run, self._run_log(run))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # any handler failure is an outcome to settle
            return partial(self._failed, run, exc)
        return partial(self._completed, run, result)

    def settle(self, run: Run, outcome: Outcome) -> None:
        self._settle(run, outcome, self._run_log(run))

    def settle_many(self, finished: list[tuple[Run, Outcome]]) -> None:
        """Settle several runs; where the backend can, in one transaction (a savepoint each,
        so one run's failure leaves the others' writes intact)."""
        # Lock order: every run's lock first, then the transaction (which takes the database's
        # write lock). Heartbeats and progress take a run's lock, then the write lock; taking
        # them the other way round here deadlocked the two.
        with contextlib.ExitStack() as locks:
            for run, _ in finished:
                locks.enter_context(run.lock)
            with self._b.atomic():
                for run, outcome in finished:
                    self.settle(run, outcome)

    def _run_log(self, run: Run) -> Any:
        return self._log.bind(job_id=run.job.job_id, attempt=run.job.attempt, owner=run.job.owner)

    def _call_handler(self, run: Run, log: Any) -> Any:
        spec = self._app.get(run.job.type)
        payload = run.job.payload
        if run.job.payload_ref is not None:
            payload = json.loads(self._b.blobs.get(run.job.payload_ref.key))
        ctx = _Context(self, run, log)
        log.debug("job_started", job_type=run.job.type)
        if inspect.iscoroutinefunction(spec.handler):
            remaining = max(0.001, run.deadline - time.monotonic())
            return _loop().run_until_complete(
                asyncio.wait_for(spec.handler(payload, ctx), remaining)
            )
        return spec.handler(payload, ctx)

    def _settle(self, run: Run, outcome: Callable[[], str], log: Any) -> None:
        with run.lock:
            if run.settled:
                log.info("late_result_discarded")  # the watchdog or shutdown settled it first
                return
            run.settled = True
            try:
                # One atomic unit per outcome (a savepoint inside a batch): the ledger write and
                # the message's ack/release/bury land together, or not at all.
                with self._b.atomic():
                    status = outcome()
            except LeaseLost:
                log.warning("lease_lost")
                return
            except JobGateError as exc:
                # Storage trouble while settling: leave the message; it comes back after the
                # visibility timeout and the next delivery converges.
                log.error("settle_failed", error=str(exc))
                return
        log.info("job_settled", status=status, job_type=run.job.type)

    def _completed(self, run: Run, result: Any) -> str:
        if run.cancel.is_set() or run.job.cancel_requested:
            return self._cancelled(run)
        encoded = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
        changes: dict[str, Any] = {"artifacts": tuple(run.artifacts.values()), "error": None}
        if len(encoded) > self._inline_result_bytes:
            key = result_key(run.job.owner, run.job.job_id)
            changes["result_ref"] = self._b.blobs.put(key, encoded, "application/json")
        else:
            changes["result"] = result
        self._finish_and_ack(run, JobStatus.COMPLETED, changes)
        return JobStatus.COMPLETED.value

    def _cancelled(self, run: Run) -> str:
        self._finish_and_ack(run, JobStatus.CANCELLED, {})
        return JobStatus.CANCELLED.value

    def _finish_and_ack(self, run: Run, status: JobStatus, changes: dict[str, Any]) -> None:
        # Mark finished, then delete the message (one transaction where the backend can; see
        # _settle). Elsewhere a crash in between leaves a message whose next delivery finds the
        # job finished and acks it.
        self._finish(run, status, changes)
        self._b.queue.ack([run.delivery.receipt])

    def _failed(self, run: Run, exc: BaseException) -> str:
        if run.cancel.is_set() and run.job.cancel_requested:
            return self._cancelled(run)
        retryable = (
            exc.retryable if isinstance(exc, JobFailure) else not isinstance(exc, ValidationFailed)
        )
        error = JobError(type(exc).__name__, str(exc)[:2000] or type(exc).__name__, retryable)
        job = run.job
        if retryable and job.attempt < job.max_attempts:
            now = self._clock()
            delay = self._backoff.delay(job.attempt)
            self._cas_mine(
                run,
                {
                    "status": JobStatus.QUEUED,
                    "error": error,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "run_after": now + delay,
                    "updated_at": now,
                },
                JobEvent(
                    job.job_id,
                    now,
                    "retry_scheduled",
                    JobStatus.QUEUED,
                    job.attempt,
                    {"error": error.type, "message": error.message, "delay": delay},
                ),
            )
            self._release(run.delivery, delay)
            return "retry"
        self._finish(run, JobStatus.FAILED, {"error": error})
        self._b.dead_letters.bury(run.delivery)
        return JobStatus.FAILED.value

    def _finish(self, run: Run, status: JobStatus, changes: dict[str, Any]) -> None:
        now = self._clock()
        detail = {"error": changes["error"].type} if changes.get("error") else {}
        self._cas_mine(
            run,
            {
                **changes,
                "status": status,
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": now,
                "finished_at": now,
                **(
                    {"progress": Progress(100.0, run.job.progress.note)}
                    if status is JobStatus.COMPLETED
                    else {}
                ),
            },
            JobEvent(run.job.job_id, now, status.value, status, run.job.attempt, detail),
        )

    def _cas_mine(self, run: Run, changes: Mapping[str, Any], event: JobEvent | None) -> Job:
        """Compare-and-set that survives our own concurrent writes (heartbeats, progress,
        cancel requests) but never another attempt's: fencing by attempt number."""
        job = run.job
        for _ in range(20):
            try:
                run.job = self._b.jobs.transition(job, changes, event)
                return run.job
            except TransitionConflict as exc:
                current = exc.current
                if (
                    current is None
                    or current.status is not JobStatus.PROCESSING
                    or current.attempt != job.attempt
                ):
                    run.cancel.set()
                    raise LeaseLost(
                        f"job {job.job_id} attempt {job.attempt} lost its lease", current
                    ) from exc
                if current.cancel_requested:
                    run.cancel.set()
                run.job = job = current
        raise LeaseLost(f"job {job.job_id}: too many concurrent writes", job)

    # -- heartbeats, timeouts, shutdown ---------------------------------------------------------

    def heartbeat(self, run: Run) -> None:
        """Extend the message's visibility and the job's lease by one visibility timeout."""
        with run.lock:
            if run.settled:
                return
            now = self._clock()
            try:
                self._b.queue.extend(run.delivery.receipt, self.visibility_timeout)
            except StaleReceipt:
                self._log.warning("heartbeat_stale_receipt", job_id=run.job.job_id)
            try:
                self._cas_mine(
                    run,
                    {"lease_expires_at": now + self.visibility_timeout, "updated_at": now},
                    None,
                )
            except LeaseLost:
                run.settled = True
                self._log.warning("lease_lost", job_id=run.job.job_id, attempt=run.job.attempt)

    def expire(self, run: Run) -> None:
        """The attempt ran past its timeout: settle it as a retryable failure; tell the handler."""
        run.cancel.set()
        timeout = TimeoutError(f"attempt exceeded its timeout of {run.job.timeout:g} s")
        self.settle(run, partial(self._failed, run, timeout))

    def abandon(self, run: Run) -> None:
        """Shutdown: give the job and its message back at once; the attempt still counts."""
        run.cancel.set()

        def requeue() -> str:
            now = self._clock()
            self._cas_mine(
                run,
                {
                    "status": JobStatus.QUEUED,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "updated_at": now,
                },
                JobEvent(
                    run.job.job_id,
                    now,
                    "released",
                    JobStatus.QUEUED,
                    run.job.attempt,
                    {"reason": "worker shutdown"},
                ),
            )
            self._release(run.delivery, 0)
            return "released"

        self.settle(run, requeue)

    # -- context support --------------------------------------------------------------------------

    def record_progress(self, run: Run, pct: float, note: str) -> None:
        now = time.monotonic()
        if now - run.last_progress < _PROGRESS_EVERY and pct < 100:
            return
        run.last_progress = now
        with run.lock:
            if run.settled:
                return
            progress = Progress(max(0.0, min(100.0, float(pct))), note[:500])
            try:
                self._cas_mine(run, {"progress": progress, "updated_at": self._clock()}, None)
            except LeaseLost:
                run.settled = True

    def store_artifact(self, run: Run, name: str, data: bytes, content_type: str) -> None:
        if not _ARTIFACT_NAME.match(name):
            raise ValueError(f"artifact name {name!r}: letters, digits, '.', '_' and '-' only")
        key = artifact_key(run.job.owner, run.job.job_id, name)
        run.artifacts[name] = self._b.blobs.put(key, data, content_type)

    def is_cancelled(self, run: Run) -> bool:
        if run.cancel.is_set():
            return True
        now = time.monotonic()
        if now - run.last_cancel_check >= 0.5:
            run.last_cancel_check = now
            current = self._b.jobs.get(run.job.job_id)
            if current is None or current.cancel_requested or current.attempt != run.job.attempt:
                run.cancel.set()
        return run.cancel.is_set()


class _Context:
    """The :class:`~jobgate.registry.JobContext` handed to a handler."""

    def __init__(self, executor: Executor, run: Run, log: Any) -> None:
        self._executor = executor
        self._run = run
        self.job_id = run.job.job_id
        self.attempt = run.job.attempt
        self.owner = run.job.owner
        self.job_type = run.job.type
        self.log = log

    def progress(self, pct: float, note: str = "") -> None:
        self._executor.record_progress(self._run, pct, note)

    def put_artifact(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self._executor.store_artifact(self._run, name, data, content_type)

    def cancelled(self) -> bool:
        return self._executor.is_cancelled(self._run)


def close_thread_loop() -> None:
    """Close this thread's event loop, if async handlers made one (call as a thread ends)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is not None and not loop.is_closed():
        loop.close()


def _loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker thread, reused across async handlers."""
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _loops.loop = loop
    return loop
