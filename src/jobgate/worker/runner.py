"""The long-polling worker: receive → bounded thread pool → executor; heartbeats; shutdown.

* The poll loop only asks for as many messages as there are free slots, so nothing waits in
  memory while its visibility timeout runs down.
* One monitor thread beats for every run in flight (lease + visibility, every
  ``heartbeat_interval``) and expires runs past their timeout.
* :meth:`Worker.stop` (SIGTERM/SIGINT in the CLI) stops receiving; runs get ``grace`` seconds
  to finish, then the rest are given back (job requeued, message visible at once). Pool threads
  are daemons: a handler that ignores ``ctx.cancelled()`` cannot hold the process hostage.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from jobgate.domain.models import Delivery
from jobgate.errors import JobGateError
from jobgate.logs import get_logger
from jobgate.ports import JobQueue
from jobgate.services.execute import Executor, Run, close_thread_loop

_MAX_BATCH = 10  # SQS's receive maximum


class Worker:
    def __init__(
        self,
        executor: Executor,
        job_queue: JobQueue,
        *,
        concurrency: int = 4,
        prefetch: int = 4,
        poll_wait_seconds: float = 20.0,
        heartbeat_interval: float = 100.0,
        grace_seconds: float = 30.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._executor = executor
        self._queue = job_queue
        self._concurrency = concurrency
        self._wait = poll_wait_seconds
        self._beat_every = heartbeat_interval
        self._grace = grace_seconds
        self._on_idle = on_idle
        self._stopping = threading.Event()
        self._tasks: queue.Queue[Run | None] = queue.Queue()
        # A slot is a claimed job in this process: running, or waiting (heartbeated) for a
        # thread. Prefetch lets the poll loop claim in batches while threads stay busy.
        self._slots = threading.Semaphore(concurrency + prefetch)
        # keyed by (job id, attempt): a timed-out attempt may still be running beside the next
        self._runs: dict[tuple[str, int], Run] = {}
        self._runs_lock = threading.Lock()
        self._busy = 0
        self._log = get_logger(worker_id=executor.worker_id)
        self.processed = 0

    def stop(self) -> None:
        """Ask the worker to stop receiving and wind down (safe from a signal handler)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Poll until :meth:`stop`; then drain within the grace period. Blocks."""
        threads = [
            threading.Thread(target=self._pool_loop, name=f"jobgate-worker-{i}", daemon=True)
            for i in range(self._concurrency)
        ]
        threads.append(threading.Thread(target=self._monitor, name="jobgate-monitor", daemon=True))
        for thread in threads:
            thread.start()
        self._log.info("worker_started", concurrency=self._concurrency)
        try:
            self._poll_loop()
        finally:
            self._drain()
            for _ in range(self._concurrency):
                self._tasks.put(None)
            self._log.info("worker_stopped", processed=self.processed)

    def _poll_loop(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            free = self._acquire_slots()
            if not free:
                continue
            try:
                deliveries = self._queue.receive(
                    free, min(self._wait, 1.0), self._executor.visibility_timeout
                )
                backoff = 0.5
            except JobGateError as exc:
                self._log.warning("receive_failed", error=str(exc), retry_in=backoff)
                deliveries = []
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            runs = self._claim(deliveries)
            for _ in range(free - len(runs)):
                self._slots.release()
            for run in runs:
                self._tasks.put(run)
            if not deliveries and self._on_idle is not None:
                self._on_idle()

    def _acquire_slots(self) -> int:
        """Wait for at least one free slot (or stop), then take every free one up to a batch."""
        if not self._slots.acquire(timeout=0.2):
            return 0
        taken = 1
        # While claimed work still waits for a thread, wait a little for a fuller batch rather
        # than receive (and claim) one message at a time.
        while taken < _MAX_BATCH:
            if self._slots.acquire(blocking=False) or (
                not self._tasks.empty() and self._slots.acquire(timeout=0.05)
            ):
                taken += 1
            else:
                break
        if self._stopping.is_set():
            for _ in range(taken):
                self._slots.release()
            return 0
        return taken

    def _claim(self, deliveries: list[Delivery]) -> list[Run]:
        """Claim a received batch (one transaction where the backend allows) and register the
        runs for heartbeats before any of them waits for a thread."""
        if not deliveries:
            return []
        try:
            runs = self._executor.begin_many(deliveries)
        except JobGateError as exc:
            # Nothing was claimed; the messages come back after their visibility timeout.
            self._log.warning("claim_failed", error=str(exc), messages=len(deliveries))
            return []
        now = time.monotonic()
        with self._runs_lock:
            for run in runs:
                run.next_beat = now + self._beat_every
                self._runs[(run.job.job_id, run.job.attempt)] = run
        return runs

    def _pool_loop(self) -> None:
        while True:
            run = self._tasks.get()
            if run is None:
                close_thread_loop()
                return
            try:
                self._execute(run)
            except Exception as exc:  # a storage failure must not kill the thread
                self._log.error("run_failed", job_id=run.job.job_id, error=str(exc))
            finally:
                self._slots.release()

    def _execute(self, run: Run) -> None:
        key = (run.job.job_id, run.job.attempt)
        try:
            run.deadline = time.monotonic() + run.job.timeout
            self._executor.execute(run)
        finally:
            with self._runs_lock:
                self._runs.pop(key, None)
            self.processed += 1

    def _monitor(self) -> None:
        while True:
            time.sleep(min(0.25, self._beat_every))
            now = time.monotonic()
            with self._runs_lock:
                runs = list(self._runs.values())
            for run in runs:
                try:
                    if now >= run.deadline:
                        self._executor.expire(run)
                    elif now >= run.next_beat:
                        run.next_beat = now + self._beat_every
                        self._executor.heartbeat(run)
                except JobGateError as exc:
                    self._log.warning("heartbeat_failed", job_id=run.job.job_id, error=str(exc))

    def _drain(self) -> None:
        deadline = time.monotonic() + self._grace
        while time.monotonic() < deadline:
            with self._runs_lock:
                if not self._runs and self._tasks.empty():
                    return
            time.sleep(0.05)
        with self._runs_lock:
            runs = list(self._runs.values())
        for run in runs:
            self._log.warning("run_abandoned_at_shutdown", job_id=run.job.job_id)
            try:
                self._executor.abandon(run)
            except JobGateError as exc:
                self._log.error("abandon_failed", job_id=run.job.job_id, error=str(exc))
