"""The in-process scheduler and reconciler loop that runs beside the worker."""

from __future__ import annotations

import threading
import time
from typing import Any

from jobgate.errors import JobGateError
from jobgate.logs import get_logger
from jobgate.services.maintenance import Reconciler
from jobgate.services.schedules import ScheduleService


class Housekeeper:
    """Every ``tick_seconds``: enqueue due schedule ticks; every ``reconcile_seconds``: repair.

    Several processes may run one each: ticks are idempotent per (schedule, tick) and every
    repair is a compare-and-set.
    """

    def __init__(
        self,
        schedules: ScheduleService | None,
        reconciler: Reconciler,
        *,
        tick_seconds: float = 1.0,
        reconcile_seconds: float,
    ) -> None:
        self._schedules = schedules
        self._reconciler = reconciler
        self._tick = tick_seconds
        self._reconcile_every = reconcile_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._others: list[Any] = []
        self._log = get_logger(component="housekeeper")

    def also_stop(self, other: Any) -> None:
        """Stop ``other`` (anything with ``stop()``) when this stops."""
        self._others.append(other)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="jobgate-housekeeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        for other in self._others:
            other.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_reconcile = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._schedules is not None:
                    self._schedules.tick()
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + self._reconcile_every
                    self._reconciler.run_once()
            except JobGateError as exc:
                self._log.warning("housekeeping_failed", error=str(exc))
            self._stop.wait(self._tick)
