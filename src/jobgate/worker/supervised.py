"""A child process kept running: ``jobgate serve`` and ``jobgate worker`` run the notifier as
``jobgate notifier`` beside them (``JOBGATE_NOTIFIER=process``), so sending notices does not
share the worker's interpreter lock. Restarted (after a pause) if it dies; stopped with them,
and ends itself when they die without stopping it (``kill -9``): it is told its parent's pid
(``JOBGATE_PARENT_PID``) and watches it (:func:`watch_parent`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from jobgate.logs import get_logger

PARENT_PID = "JOBGATE_PARENT_PID"


def watch_parent(on_orphaned: Callable[[], None], every: float = 0.5) -> None:
    """When this process was started by :class:`Supervised`, call ``on_orphaned`` once its
    parent is gone (Linux re-parents an orphan, so ``getppid`` changes)."""
    expected = os.environ.get(PARENT_PID)
    if not expected:
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(every)
        get_logger(component="supervisor").warning("parent_gone", parent=int(expected))
        on_orphaned()

    threading.Thread(target=watch, name="jobgate-parent-watch", daemon=True).start()


class Supervised:
    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, restart_after: float = 2.0
    ) -> None:
        self._args = [sys.executable, "-m", "jobgate.cli.main", *args]
        self._env = {**os.environ, **(env or {}), PARENT_PID: str(os.getpid())}
        self._restart_after = restart_after
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._log = get_logger(component="supervisor")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._keep, name="jobgate-supervisor", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.is_set():
            self._process = subprocess.Popen(self._args, env=self._env)
            code = self._process.wait()
            if not self._stop.is_set():
                self._log.error("child_exited", command=self._args[3], code=code)
                self._stop.wait(self._restart_after)

    def stop(self) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(5)
