"""The API stays live while SQLite's write lock is held by another process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.processes import serving

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
BUSY_TIMEOUT = 1.0  # seconds: JOBGATE_SQLITE_BUSY_TIMEOUT_MS
HOLD = 3.0  # the other process holds the lock this long: longer than the busy timeout

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_health_and_reads_answer_at_once_and_every_write_gets_an_answer_in_time(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = {"app": "tests.apps:app", "sqlite_busy_timeout_ms": int(BUSY_TIMEOUT * 1000)}
    with (
        serving("api", data, **settings) as (url, _),
        httpx.Client(base_url=url, headers=ADMIN, timeout=30) as http,
    ):
        known = http.post("/jobs", json={"type": "echo"}).json()["job_id"]
        # given another process holding the database's write lock for longer than the timeout
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(data / "jobgate.db"), str(HOLD)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        health: list[float] = []
        reads: list[float] = []
        submits: list[tuple[int, float, str | None, str | None]] = []
        lock = threading.Lock()

        def probe() -> None:
            with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as own:
                while time.monotonic() - locked_at < HOLD:
                    started = time.monotonic()
                    assert own.get("/healthz").status_code == 200
                    middle = time.monotonic()
                    assert own.get(f"/jobs/{known}").status_code == 200
                    with lock:
                        health.append(middle - started)
                        reads.append(time.monotonic() - middle)
                    time.sleep(0.05)

        def submit() -> None:
            with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as own:
                while time.monotonic() - locked_at < HOLD - 0.5:
                    started = time.monotonic()
                    answer = own.post("/jobs", json={"type": "echo"})
                    took = time.monotonic() - started
                    job_id = answer.json().get("job_id") if answer.status_code == 202 else None
                    with lock:
                        submits.append(
                            (answer.status_code, took, answer.headers.get("retry-after"), job_id)
                        )

        # when clients keep probing and submitting while the lock is held
        threads = [threading.Thread(target=probe)] + [
            threading.Thread(target=submit) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        locker.wait(10)
        locker.stdout.close()
        # then /healthz and reads answered within 100 ms throughout
        assert health and max(health) < 0.1, sorted(health)[-5:]
        assert reads and max(reads) < 0.1, sorted(reads)[-5:]
        # and every submit got 202, or 503 with Retry-After, within the busy timeout + a margin
        assert submits and all(status in (202, 503) for status, *_ in submits), submits
        assert all(took < BUSY_TIMEOUT + 0.5 for _, took, _, _ in submits), submits
        assert all(retry and retry.isdigit() for s, _, retry, _ in submits if s == 503)
        assert any(s == 503 for s, *_ in submits)
        # and nothing that was acknowledged is lost
        for _, _, _, job_id in submits:
            if job_id is not None:
                assert http.get(f"/jobs/{job_id}").status_code == 200
        assert http.post("/jobs", json={"type": "echo"}).status_code == 202
