"""Real jobgate processes for end-to-end and fault tests: start on a free port, stop, kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parents[1]
SIGNING_KEY = "e2e-signing-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(data_dir: Path, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGATE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        JOBGATE_DATA_DIR=str(data_dir),
        JOBGATE_ADMIN_KEY=ADMIN_KEY,
        JOBGATE_SIGNING_KEY=SIGNING_KEY,
        JOBGATE_LOG_LEVEL="warning",
    )
    env.update({f"JOBGATE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Process:
    """A ``python -m jobgate.cli.main …`` child whose output goes to a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "jobgate.cli.main", *args],
            env=env,
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait(10)
        self._out.close()
        return code

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)
        self._out.close()


def wait_healthy(url: str, process: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"process exited early:\n{process.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy:\n{process.log.read_text()[-3000:]}")


@contextmanager
def serving(command: str, data_dir: Path, **settings: object) -> Iterator[tuple[str, Process]]:
    """``jobgate serve`` (or ``api``) on a free loopback port; stopped with SIGTERM after."""
    port = free_port()
    process = Process(
        [command, "--host", "127.0.0.1", "--port", str(port)],
        environment(data_dir, **settings),
        data_dir.parent / f"{command}-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, process
    finally:
        process.stop()


def worker(data_dir: Path, name: str = "worker", **settings: object) -> Process:
    return Process(["worker"], environment(data_dir, **settings), data_dir.parent / f"{name}.log")
