"""The notifier's idle back-off: a pass that finds nothing doubles the wait, up to a bound; a
pass that finds events resets it (on AWS each idle pass is billed requests)."""

from __future__ import annotations

import threading
from typing import Any

from jobgate.worker.notifier import Notifier


class _Passes:
    """Stands in for the dispatcher and the deliverer; ``busy`` lists which passes find
    events (the notifier's loop is what is under test)."""

    def __init__(self, busy: set[int]) -> None:
        self.count = 0
        self.busy = busy
        self.idle = True

    def run_once(self, limit: int = 500) -> int:
        self.count += 1
        self.idle = self.count not in self.busy
        return 0

    def due(self, limit: int) -> list[Any]:
        return []


class _Waits(threading.Event):
    """The notifier's stop event: records each wait instead of waiting; stops after ``n``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self._n = n

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        if len(self.waits) >= self._n:
            self.set()
        return self.is_set()


def _waits(busy: set[int], idle_max: float | None, n: int = 8) -> list[float]:
    passes = _Passes(busy)
    notifier = Notifier(passes, passes, concurrency=1, idle_wait=0.05, idle_max=idle_max)  # type: ignore[arg-type]
    stop = _Waits(n)
    notifier._stop = stop
    notifier._loop()
    return stop.waits


def test_idle_passes_back_off_to_the_bound_and_events_reset_them() -> None:
    assert _waits(set(), idle_max=0.4) == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4]
    # events on the 4th pass: no wait after it, then the back-off starts over
    assert _waits({4}, idle_max=0.4, n=6) == [0.05, 0.1, 0.2, 0.05, 0.1, 0.2]
    # no bound (SQLite, where reads are free): the same short wait every time
    assert _waits(set(), idle_max=None, n=4) == [0.05] * 4
