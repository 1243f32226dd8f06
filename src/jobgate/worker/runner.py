"""The long-polling worker: a pool of consumer threads, heartbeats, timeouts, graceful shutdown.

Every pool thread is its own consumer: when no claimed run is waiting, it receives a batch
(up to 10, as SQS allows, and no more than the free capacity), claims the batch in one
transaction where the backend can, keeps one run and leaves the rest in a shared backlog for
any idle thread. A thread settles its finished runs together, in one transaction (a savepoint
each), before it goes back to the queue, or after 10 runs. There is no separate poll thread:
in Python, handing every job from thread to thread costs more than a no-op job itself
(measured: a third of the throughput).

* Finished runs join a shared list, emptied at once when it holds 10 runs or no claimed run
  waits to start, and else by a flusher thread as soon as its oldest run finished
  ``batch_window`` ago. With ``group_commit`` (a backend whose ``atomic()`` is a transaction:
  SQLite) the list is settled in one transaction, a savepoint each, messages included. Without
  (network backends, where a batch would only serialise the writes) each thread settles its own
  run at once, in parallel, and the list batches only the message acknowledgements. With
  ``JOBGATE_WORKER_BATCH_WRITES`` on a network backend the list is settled in one request, and
  each thread waits for the batch holding its run before it takes new work. So no finished run
  waits longer than about one batching window (a few milliseconds) plus one write, and a
  ``kill -9`` re-runs only handlers that were running or had just finished.
* Capacity is ``concurrency + prefetch`` claimed runs per process; waiting runs are leased,
  and heartbeated like running ones, so a backlog never outlives its lease.
* One monitor thread beats for every claimed run (lease + visibility, every
  ``heartbeat_interval``) and expires running ones past their timeout; it ends with the worker.
* :meth:`Worker.stop` (SIGTERM/SIGINT in the CLI): threads take no new work, waiting runs are
  handed back at once, running ones get ``grace`` seconds, then they are handed back too.
  Pool threads are daemons: a handler that ignores ``ctx.cancelled()`` cannot hold the process.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from jobgate.domain.models import Delivery
from jobgate.errors import JobGateError
from jobgate.logs import get_logger
from jobgate.ports import JobQueue
from jobgate.services.attempt import Disposition, MessageAction, Outcome, Run
from jobgate.services.execute import Executor, close_thread_loop

_MAX_BATCH = 10  # SQS's receive maximum
_SETTLE_EVERY = 10  # finished runs that are settled together without waiting longer


class Worker:
    def __init__(
        self,
        executor: Executor,
        job_queue: JobQueue,
        *,
        concurrency: int,
        prefetch: int,
        poll_wait_seconds: float,
        heartbeat_interval: float,
        grace_seconds: float,
        batch_window: float,
        group_commit: bool,
        await_settle: bool = False,
        ack_linger: float = 0.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._executor = executor
        self._queue = job_queue
        self._concurrency = concurrency
        self._capacity = concurrency + prefetch
        self._wait = min(poll_wait_seconds, 1.0)  # short polls keep shutdown prompt
        self._beat_every = heartbeat_interval
        self._grace = grace_seconds
        self._batch_window = batch_window
        self._group_commit = group_commit
        self._await_settle = await_settle
        self._acks = _LingeringAcks(executor, ack_linger) if ack_linger > 0 else None
        self._on_idle = on_idle
        self._stopping = threading.Event()
        self._stopped = threading.Event()  # run() has returned: the monitor ends too
        self._lock = threading.Lock()
        self._backlog: collections.deque[Run] = collections.deque()  # claimed, not started
        # keyed by (job id, attempt): a timed-out attempt may still run beside the next one
        self._runs: dict[tuple[str, int], Run] = {}
        self._running: set[tuple[str, int]] = set()
        self._in_handler: set[int] = set()  # idents of threads running a handler right now
        # ran, not yet settled (group commit: action None) or not yet acted on
        self._finished: list[tuple[Run, Outcome, MessageAction | None]] = []
        self._first_finished = 0.0  # monotonic time the oldest of them finished
        self._finished_added = threading.Condition(self._lock)  # wakes the flusher
        self._settled = threading.Condition(self._lock)  # a batch of runs was settled
        self._unsettled = 0  # finished runs (group commit) whose settle has not ended
        self._settling = threading.Lock()  # held by the thread that settles for everyone
        self._log = get_logger(worker_id=executor.worker_id)
        self.processed = 0

    def stop(self) -> None:
        """Ask the worker to stop taking work and wind down (safe from a signal handler)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Consume until :meth:`stop`; then drain within the grace period. Blocks."""
        threads = [
            threading.Thread(target=self._consume, name=f"jobgate-worker-{i}", daemon=True)
            for i in range(self._concurrency)
        ]
        monitor = threading.Thread(target=self._monitor, name="jobgate-monitor", daemon=True)
        monitor.start()
        flusher = threading.Thread(target=self._flush, name="jobgate-flusher", daemon=True)
        flusher.start()
        for thread in threads:
            thread.start()
        self._log.info("worker_started", concurrency=self._concurrency, capacity=self._capacity)
        try:
            self._stopping.wait()
            self._drain(threads)
        finally:
            self._stopped.set()
            with self._lock:
                self._finished_added.notify_all()
            monitor.join(2.0)
            flusher.join(2.0)
            if self._acks is not None:
                self._acks.flush()
        self._log.info("worker_stopped", processed=self.processed)

    # -- consumer threads -----------------------------------------------------------------------

    def _consume(self) -> None:
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                run = self._next_waiting()
                if run is None:
                    try:
                        run = self._fetch()
                        backoff = 0.5
                    except Exception as exc:  # a consumer thread must outlive any failure
                        self._log.warning(
                            "receive_failed",
                            error=str(exc),
                            retry_in=backoff,
                            exc_info=not isinstance(exc, JobGateError),
                        )
                        self._stopping.wait(backoff)
                        backoff = min(backoff * 2, 30.0)
                        continue
                    if run is None:
                        continue
                outcome = self._execute(run)
                action = None if self._group_commit else self._executor.settle(run, outcome)
                with self._lock:
                    if not self._finished:
                        self._first_finished = time.monotonic()
                        self._finished_added.notify()
                    self._finished.append((run, outcome, action))
                    self._unsettled += action is None
                    now = len(self._finished) >= _SETTLE_EVERY or not self._backlog
                if now:
                    self._settle_finished()
                if self._await_settle and action is None:
                    self._wait_settled(run)
        finally:
            self._settle_finished()
            close_thread_loop()

    def _wait_settled(self, run: Run) -> None:
        """Group commit on a network backend: while ``concurrency`` finished runs wait to be
        settled, this thread takes no new work until its own is, so a ``kill -9`` re-runs at
        most that many finished runs besides the running ones, however slow a batch write is
        (and a batch still gathers runs from every thread)."""
        with self._lock:
            while (
                run.key in self._runs
                and self._unsettled >= self._concurrency
                and not self._stopped.is_set()
            ):
                self._settled.wait(0.25)

    def _flush(self) -> None:
        """Settle finished runs once the oldest has waited ``batch_window`` (and send the
        acknowledgements that lingered long enough)."""
        while not self._stopped.is_set():
            if self._acks is not None:
                self._acks.flush_due()
            with self._lock:
                if not self._finished:
                    self._finished_added.wait(0.25 if self._acks is None else self._acks.due())
                    continue
                due = self._first_finished + self._batch_window - time.monotonic()
                if due > 0:
                    self._finished_added.wait(due)
                    continue
            self._settle_finished()

    def _settle_finished(self) -> None:
        """Group commit: settle every finished run unless another thread is doing so already
        (it looks at the list again after releasing the lead, so nothing is left behind)."""
        while self._settling.acquire(blocking=False):
            try:
                with self._lock:
                    batch, self._finished = self._finished, []
                self._settle(batch)
            finally:
                self._settling.release()
            with self._lock:
                if not self._finished:
                    return

    def _next_waiting(self) -> Run | None:
        with self._lock:
            if not self._backlog:
                return None
            run = self._backlog.popleft()
            self._running.add(run.key)
            return run

    def _fetch(self) -> Run | None:
        """Receive and claim a batch; keep the first run, leave the rest in the backlog."""
        with self._lock:
            free = self._capacity - len(self._runs)
        if free <= 0:
            self._stopping.wait(0.01)  # everything claimed is running: wait for a slot
            return None
        wanted = min(_MAX_BATCH, free)
        visibility = self._executor.visibility_timeout
        deliveries = self._queue.receive(wanted, self._wait, visibility)
        if 0 < len(deliveries) < wanted and self._batch_window > 0:
            # Like Lambda's batching window: a moment's wait turns a trickle into batches,
            # and a batch is claimed and settled in one transaction instead of one each.
            time.sleep(self._batch_window)
            deliveries += self._queue.receive(wanted - len(deliveries), 0, visibility)
        if not deliveries:
            if self._on_idle is not None:
                self._on_idle()
            return None
        if self._stopping.is_set():  # stopped while polling: give the messages back untouched
            for delivery in deliveries:
                self._executor.release(delivery, 0)
            return None
        runs = self._executor.begin_many(deliveries)
        if not runs:
            return None
        now = time.monotonic()
        with self._lock:
            for run in runs:
                run.next_beat = now + self._beat_every
                run.deadline = math.inf  # the timeout starts when the handler does
                self._runs[run.key] = run
            stopping = self._stopping.is_set()
            if not stopping:
                self._backlog.extend(runs[1:])
                self._running.add(runs[0].key)
        if stopping:  # claimed as the stop came: the drain may have looked already
            self._hand_back(runs, "run_released_at_shutdown")
            return None
        return runs[0]

    def _execute(self, run: Run) -> Outcome:
        run.deadline = time.monotonic() + run.job.timeout
        me = threading.get_ident()
        with self._lock:
            self._in_handler.add(me)
        try:
            return self._executor.run_handler(run)
        finally:
            run.deadline = math.inf  # finished: only the settle remains
            with self._lock:
                self._running.discard(run.key)
                self._in_handler.discard(me)

    def _settle(self, finished: list[tuple[Run, Outcome, MessageAction | None]]) -> None:
        if not finished:
            return
        unsettled = [(run, outcome) for run, outcome, action in finished if action is None]
        settled = [(run.delivery, action) for run, _, action in finished if action is not None]
        try:
            if unsettled:
                actions = self._executor.finish_many(unsettled, act=self._acks is None)
                if self._acks is not None:
                    settled += [
                        (r.delivery, a) for (r, _), a in zip(unsettled, actions, strict=True)
                    ]
            if self._acks is not None:
                settled = self._acks.keep(settled)
            if settled:
                self._executor.apply_many(settled)
        except JobGateError as exc:
            # The batch failed: its messages come back after their visibility timeout and the
            # next delivery converges.
            self._log.error("settle_failed", error=str(exc), runs=len(finished))
        finally:
            with self._lock:
                for run, _, _ in finished:
                    self._runs.pop(run.key, None)
                self.processed += len(finished)
                self._unsettled -= len(unsettled)
                self._settled.notify_all()

    # -- monitor and shutdown -------------------------------------------------------------------

    def _monitor(self) -> None:
        while not self._stopped.wait(min(0.25, self._beat_every)):
            now = time.monotonic()
            with self._lock:
                runs = list(self._runs.values())
            for run in runs:
                try:
                    if now >= run.deadline:
                        run.deadline = math.inf
                        self._executor.expire(run)
                    elif now >= run.next_beat:
                        run.next_beat = now + self._beat_every
                        self._executor.heartbeat(run)
                except JobGateError as exc:
                    self._log.warning("heartbeat_failed", job_id=run.job.job_id, error=str(exc))

    def _drain(self, threads: list[threading.Thread]) -> None:
        self._hand_back(self._take_backlog(), "run_released_at_shutdown")
        deadline = time.monotonic() + self._grace
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        # Past the grace, threads that are not inside a handler are only receiving, claiming
        # or settling: give them a moment to finish (they see the stop and hand back what they
        # claimed), so nothing is left claimed behind this method's back.
        with self._lock:
            in_handler = set(self._in_handler)
        for thread in threads:
            if thread.ident not in in_handler:
                thread.join(5.0)
        self._take_backlog()
        with self._lock:
            # Past the grace: whatever is still claimed and unsettled goes back, running or not.
            overdue = list(self._runs.values())
        self._hand_back(overdue, "run_abandoned_at_shutdown")

    def _take_backlog(self) -> list[Run]:
        with self._lock:
            waiting = list(self._backlog)
            self._backlog.clear()
        return waiting

    def _hand_back(self, runs: list[Run], event: str) -> None:
        for run in runs:
            self._log.warning(event, job_id=run.job.job_id)
            try:
                self._executor.abandon(run)
            except JobGateError as exc:
                self._log.error("abandon_failed", job_id=run.job.job_id, error=str(exc))
            with self._lock:
                self._runs.pop(run.key, None)


class _LingeringAcks:
    """On a network backend, the acknowledgements of settled runs wait up to ``linger``
    seconds for more, so deletes go ten to a request instead of a few. Safe: a job's state is
    stored before its message is acknowledged; a message whose delete a crash lost comes back,
    finds its job finished and is acknowledged then."""

    def __init__(self, executor: Executor, linger: float) -> None:
        self._executor = executor
        self._linger = linger
        self._lock = threading.Lock()
        self._waiting: list[tuple[Delivery, MessageAction]] = []
        self._since = 0.0

    def keep(
        self, actions: list[tuple[Delivery, MessageAction]]
    ) -> list[tuple[Delivery, MessageAction]]:
        """Keep the acknowledgements among ``actions``; return the rest (to act on now).
        Sends full batches of ten at once."""
        acks = [(d, a) for d, a in actions if a.disposition is Disposition.ACK]
        full: list[tuple[Delivery, MessageAction]] = []
        with self._lock:
            if acks and not self._waiting:
                self._since = time.monotonic()
            self._waiting += acks
            while len(self._waiting) >= _MAX_BATCH:
                full += self._waiting[:_MAX_BATCH]
                self._waiting = self._waiting[_MAX_BATCH:]
                self._since = time.monotonic()
        if full:
            self._executor.apply_many(full)
        return [(d, a) for d, a in actions if a.disposition is not Disposition.ACK]

    def due(self) -> float:
        """Seconds until the oldest waiting acknowledgement must go (0.25 when none waits)."""
        with self._lock:
            if not self._waiting:
                return 0.25
            return max(0.001, self._since + self._linger - time.monotonic())

    def flush_due(self) -> None:
        with self._lock:
            if not self._waiting or time.monotonic() - self._since < self._linger:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
        if waiting:
            try:
                self._executor.apply_many(waiting)
            except JobGateError as exc:  # they come back, find their jobs finished: acked then
                get_logger(component="worker").warning("ack_failed", error=str(exc))
