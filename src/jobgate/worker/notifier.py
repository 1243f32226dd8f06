"""The notifier: dispatches committed events into deliveries and sends them, in its own
threads, apart from job execution (a slow receiver holds up no job and no other receiver
beyond its own sender thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jobgate.errors import JobGateError
from jobgate.logs import get_logger
from jobgate.services.notify import Deliverer, Dispatcher


class Notifier:
    def __init__(
        self,
        dispatcher: Dispatcher,
        deliverer: Deliverer,
        *,
        concurrency: int,
        idle_wait: float,
        idle_max: float | None = None,
    ) -> None:
        """``idle_wait``: the pause after a pass that found nothing; each further idle pass
        doubles it, up to ``idle_max`` (default: no back-off); a busy pass resets it."""
        self._dispatcher = dispatcher
        self._deliverer = deliverer
        self._concurrency = concurrency
        self._idle_wait = idle_wait
        self._idle_max = max(idle_wait, idle_max or idle_wait)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = get_logger(component="notifier")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="jobgate-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def run_once(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Dispatch new events, then send what is due; how many deliveries were attempted."""
        self._dispatcher.run_once()
        due = self._deliverer.due(self._concurrency * 8)
        if due:
            self._deliverer.deliver_many(due, None if pool is None else pool.map)
        return len(due)

    def drain(self, left: Callable[[], float], keep_polling: float = 0.0) -> int:
        """Passes until nothing is due and ``keep_polling`` seconds have gone by, or ``left()``
        (seconds this run may still take) runs out: one Lambda invocation's share."""
        start = time.monotonic()
        attempted = 0
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="jobgate-send") as pool:
            while left() > 0:
                busy = self.run_once(pool)
                attempted += busy
                if not busy and self._dispatcher.idle:
                    if time.monotonic() - start >= keep_polling:
                        break
                    time.sleep(min(max(self._idle_wait, 1.0), max(0.0, left())))  # each second
        return attempted

    def _loop(self) -> None:
        wait = self._idle_wait
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="jobgate-send") as pool:
            while not self._stop.is_set():
                try:
                    busy = self.run_once(pool) or not self._dispatcher.idle
                except JobGateError as exc:
                    self._log.warning("notify_failed", error=str(exc))
                    busy = False
                if busy:
                    wait = self._idle_wait
                else:
                    self._stop.wait(wait)
                    wait = min(wait * 2, self._idle_max)
