"""Live status against a real ``jobgate serve``: the SSE stream and ``GET /jobs/{id}?wait=N``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.processes import serving

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def read_stream(url: str, job_id: str) -> list[tuple[str, dict[str, object]]]:
    """Every SSE message until the server closes the stream: (event name, data)."""
    messages: list[tuple[str, dict[str, object]]] = []
    with httpx.stream("GET", f"{url}/jobs/{job_id}/events/stream", headers=ADMIN, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name, data = "", ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and name:
                messages.append((name, json.loads(data)))
                name, data = "", ""
    return messages


def test_the_stream_delivers_a_jobs_events_in_order_then_closes(tmp_path: Path) -> None:
    with serving("serve", tmp_path / "data", app="tests.apps:app") as (url, _):
        job_id = httpx.post(
            f"{url}/jobs", json={"type": "slow", "payload": {"seconds": 1.5}}, headers=ADMIN
        ).json()["job_id"]
        started = time.monotonic()
        messages = read_stream(url, job_id)
        names = [name for name, _ in messages]
        # queued → processing → progress (several) → completed, then the server closes
        assert names[:2] == ["job.queued", "job.started"] and names[-1] == "job.completed"
        assert set(names[2:-1]) == {"job.progress"} and len(names[2:-1]) >= 2
        statuses = [data["status"] for _, data in messages]
        assert statuses[0] == "queued" and statuses[-1] == "completed"
        assert all(s == "processing" for s in statuses[1:-1])
        pcts = [float(str(data["pct"])) for name, data in messages if name == "job.progress"]
        assert pcts == sorted(pcts)
        assert time.monotonic() - started < 10
        assert httpx.get(f"{url}/jobs/nope/events/stream", headers=ADMIN).status_code == 404


def test_wait_answers_as_soon_as_the_status_changes(tmp_path: Path) -> None:
    with serving("serve", tmp_path / "data", app="tests.apps:app") as (url, _):
        # given a job that starts in about a second
        job_id = httpx.post(
            f"{url}/jobs", json={"type": "slow", "payload": {"seconds": 1}, "delay_seconds": 1},
            headers=ADMIN,
        ).json()["job_id"]  # fmt: skip
        # when a client waits for its status to change
        answer = httpx.get(f"{url}/jobs/{job_id}?wait=10", headers=ADMIN, timeout=30)
        received = time.time()
        # then the answer comes within half a second of the change, with the new status
        job = answer.json()
        assert job["status"] in ("processing", "completed")
        changed = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00")).timestamp()
        assert 0 <= received - changed < 0.5, received - changed
        # and a wait on a job that does not change ends after the wait, as it was
        still = httpx.post(
            f"{url}/jobs", json={"type": "echo", "delay_seconds": 600}, headers=ADMIN
        ).json()["job_id"]
        before = time.monotonic()
        same = httpx.get(f"{url}/jobs/{still}?wait=1", headers=ADMIN, timeout=30).json()
        assert same["status"] == "queued" and 0.9 <= time.monotonic() - before < 3
        bad = httpx.get(f"{url}/jobs/{still}?wait=31", headers=ADMIN)
        assert bad.status_code == 422
