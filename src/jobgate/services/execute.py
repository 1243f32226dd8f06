"""Running deliveries: claim → run the handler → settle → act on the message.

    claim (:mod:`.claiming`)            queued | dead lease → processing, attempt + 1, a lease
      → run (here)                      the handler with its context; heartbeats extend the lease
      → settle (:mod:`.settling`)       retry policy, fenced ledger write → a MessageAction
      → act (:meth:`Executor.apply`)    ack | release(delay) | bury | leave

A crash between any two steps converges on the next delivery. The long-poll worker applies
each action in the same ``atomic()`` scope as the ledger write (one SQLite transaction locally);
the Lambda worker turns actions into its partial batch response.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from jobgate import tracing
from jobgate.domain import transitions as verbs
from jobgate.domain.models import Delivery, Job, Progress
from jobgate.domain.retry import Backoff
from jobgate.errors import LeaseLost, StaleReceipt
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.registry import JobGate
from jobgate.services.attempt import Disposition, MessageAction, Outcome, Run, write_fenced
from jobgate.services.claiming import Claimer
from jobgate.services.jobs import artifact_key
from jobgate.services.settling import Settler

_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_RELEASE_DELAY = 43_200  # SQS caps visibility at 12 hours
_PROGRESS_EVERY = 0.25  # seconds between progress writes: a chatty handler cannot flood the ledger
_loops = threading.local()


class Executor:
    """Turns deliveries into finished jobs. Thread-safe: one instance serves the whole pool."""

    def __init__(
        self,
        backend: Backend,
        app: JobGate,
        *,
        worker_id: str,
        visibility_timeout: float,
        backoff: Backoff,
        inline_result_bytes: int,
        batch_writes: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._app = app
        self.worker_id = worker_id
        self.visibility_timeout = visibility_timeout
        self._clock = clock
        self._log = get_logger(worker_id=worker_id)
        self.claimer = Claimer(
            backend,
            worker_id=worker_id,
            lease_seconds=visibility_timeout,
            batch_writes=batch_writes,
            clock=clock,
        )
        self.settler = Settler(
            backend,
            worker_id=worker_id,
            backoff=backoff,
            inline_result_bytes=inline_result_bytes,
            batch_writes=batch_writes,
            clock=clock,
        )

    @property
    def backend(self) -> Backend:
        return self._b

    # -- claim ----------------------------------------------------------------------------------

    def read_jobs(self, deliveries: Sequence[Delivery]) -> dict[str, Job]:
        return self.claimer.read_jobs(deliveries)

    def begin(self, delivery: Delivery, known: Job | None = None) -> Run | MessageAction:
        parent = delivery.attributes.get("traceparent")
        with tracing.span("jobgate.claim", parent=parent, kind="consumer",
                          message_id=delivery.message_id):  # fmt: skip
            return self.claimer.begin(delivery, known)

    def begin_many(self, deliveries: Sequence[Delivery]) -> list[Run]:
        """Claim a batch (one read for all the jobs, the claims stored together, one
        ``atomic()`` scope: one transaction locally) and act at once on the messages that are
        not to run."""
        runs: list[Run] = []
        with contextlib.ExitStack() as spans:
            for delivery in deliveries:
                spans.enter_context(tracing.span(
                    "jobgate.claim", parent=delivery.attributes.get("traceparent"),
                    kind="consumer", message_id=delivery.message_id,
                ))  # fmt: skip
            with self._b.atomic():
                begun = self.claimer.begin_many(deliveries)
                for delivery, outcome in zip(deliveries, begun, strict=True):
                    if isinstance(outcome, Run):
                        runs.append(outcome)
                    else:
                        self.apply(delivery, outcome)
        return runs

    def process(self, delivery: Delivery) -> MessageAction:
        """One delivery start to end in this thread: claim, run, settle, act on the message."""
        begun = self.begin(delivery)
        if not isinstance(begun, Run):
            self.apply(delivery, begun)
            return begun
        begun.deadline = time.monotonic() + begun.job.timeout
        return self.finish(begun, self.run_handler(begun))

    # -- run ------------------------------------------------------------------------------------

    def run_handler(self, run: Run) -> Outcome:
        """Run the handler for a claimed attempt; what it returned or raised. Never raises
        (but lets KeyboardInterrupt and SystemExit through)."""
        job = run.job
        parent = job.trace_parent or run.delivery.attributes.get("traceparent")
        with tracing.span(f"jobgate.run {job.type}", parent=parent, job_id=job.job_id,
                          job_type=job.type, attempt=job.attempt) as current:  # fmt: skip
            log = self._run_log(run)
            try:
                return Outcome(result=self._call_handler(run, log))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # any handler failure is an outcome to settle
                if current is not None:
                    current.record_exception(exc)
                return Outcome(error=exc)

    def run_within(self, run: Run, seconds: float) -> Outcome:
        """Run the handler, but give up waiting after ``seconds``: the attempt is then settled
        by the caller as timed out (the handler is told through ``ctx.cancelled()``; a ``def``
        handler cannot be stopped, so it is left to finish in the background, and whatever it
        returns is discarded)."""
        run.deadline = time.monotonic() + seconds
        box: list[Outcome] = []

        def target() -> None:
            try:
                box.append(self.run_handler(run))
            finally:
                close_thread_loop()

        thread = threading.Thread(target=target, name=f"jobgate-run-{run.job.job_id}", daemon=True)
        thread.start()
        thread.join(max(0.0, seconds))
        if box:
            return box[0]
        run.cancel.set()
        return Outcome(error=TimeoutError(f"attempt exceeded its time limit of {seconds:g} s"))

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

    # -- settle and act -------------------------------------------------------------------------

    def settle(self, run: Run, outcome: Outcome) -> MessageAction:
        """Store what the outcome means (ledger only); see :mod:`.settling`."""
        parent = run.job.trace_parent or run.delivery.attributes.get("traceparent")
        with tracing.span("jobgate.settle", parent=parent, job_id=run.job.job_id,
                          failed=outcome.error is not None):  # fmt: skip
            return self.settler.settle(run, outcome)

    def finish(self, run: Run, outcome: Outcome) -> MessageAction:
        """Settle and act on the message in one ``atomic()`` scope (long-poll worker)."""
        return self._settle_and_apply(run, lambda: self.settle(run, outcome))

    def _settle_and_apply(self, run: Run, step: Callable[[], MessageAction]) -> MessageAction:
        with run.lock, self._b.atomic():  # lock order: the run's, then the write lock
            action = step()
            self.apply(run.delivery, action)
        return action

    def finish_many(
        self, finished: Sequence[tuple[Run, Outcome]], act: bool = True
    ) -> list[MessageAction]:
        """:meth:`finish` for several runs: their writes stored together
        (:meth:`~jobgate.services.settling.Settler.settle_many`: one transaction locally, one
        request on DynamoDB with ``batch_writes``) and, when ``act``, their messages acted on
        together. Returns the actions."""
        # Lock order: every run's lock first, then the transaction (which takes the database's
        # write lock). Heartbeats and progress take a run's lock, then the write lock; taking
        # them the other way round here deadlocked the two.
        with contextlib.ExitStack() as held:
            for run, outcome in finished:
                held.enter_context(run.lock)
                held.enter_context(tracing.span(
                    "jobgate.settle", parent=run.job.trace_parent
                    or run.delivery.attributes.get("traceparent"),
                    job_id=run.job.job_id, failed=outcome.error is not None,
                ))  # fmt: skip
            with self._b.atomic():
                actions = self.settler.settle_many(finished)
                if act:
                    self.apply_many(
                        [(run.delivery, a) for (run, _), a in zip(finished, actions, strict=True)]
                    )
        return actions

    def expire(self, run: Run) -> MessageAction:
        """The attempt ran past its timeout: settle it as a retryable failure and act."""
        return self._settle_and_apply(run, lambda: self.settler.expire(run, run.job.timeout))

    def abandon(self, run: Run, reason: str = "worker shutdown") -> MessageAction:
        """Shutdown: give the job and its message back at once; the attempt still counts."""
        return self._settle_and_apply(run, lambda: self.settler.abandon(run, reason))

    def apply(self, delivery: Delivery, action: MessageAction) -> None:
        """Do to the message what ``action`` says (the long-poll worker's queue calls)."""
        if action.disposition is Disposition.ACK:
            self._b.queue.ack([delivery.receipt])
        elif action.disposition is Disposition.RELEASE:
            self.release(delivery, action.delay)
        elif action.disposition is Disposition.BURY:
            self._b.dead_letters.bury(delivery)

    def apply_many(self, actions: Sequence[tuple[Delivery, MessageAction]]) -> None:
        """:meth:`apply` for several messages: their acknowledgements in one call."""
        acks = [d.receipt for d, a in actions if a.disposition is Disposition.ACK]
        with self._b.atomic():
            if acks:
                self._b.queue.ack(acks)
            for delivery, action in actions:
                if action.disposition is not Disposition.ACK:
                    self.apply(delivery, action)

    def release(self, delivery: Delivery, delay: float) -> None:
        """Give a received message back (visible after ``delay``)."""
        # A stale receipt means a newer delivery exists; it will be decided on its own.
        with contextlib.suppress(StaleReceipt):
            self._b.queue.release(delivery.receipt, min(max(0.0, delay), _MAX_RELEASE_DELAY))

    # -- heartbeats and the handler's context ---------------------------------------------------

    def heartbeat(self, run: Run) -> None:
        """Extend the message's visibility and the job's lease by one visibility timeout."""
        with run.lock:
            if run.settled:
                return
            try:
                self._b.queue.extend(run.delivery.receipt, self.visibility_timeout)
            except StaleReceipt:
                self._log.warning("heartbeat_stale_receipt", job_id=run.job.job_id)
            attempt, now = run.job.attempt, self._clock()
            try:
                write_fenced(
                    self._b.jobs,
                    run,
                    lambda job: verbs.heartbeat(
                        job, attempt=attempt, now=now, lease_seconds=self.visibility_timeout
                    ),
                )
            except LeaseLost:
                run.settled = True
                self._log.warning("lease_lost", job_id=run.job.job_id, attempt=attempt)

    def record_progress(self, run: Run, pct: float, note: str) -> None:
        now = time.monotonic()
        if now - run.last_progress < _PROGRESS_EVERY and pct < 100:
            return
        run.last_progress = now
        with run.lock:
            if run.settled:
                return
            progress = Progress(max(0.0, min(100.0, float(pct))), note[:500])
            attempt, at = run.job.attempt, self._clock()
            try:
                write_fenced(
                    self._b.jobs,
                    run,
                    lambda job: verbs.report_progress(
                        job, attempt=attempt, now=at, progress=progress
                    ),
                )
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
