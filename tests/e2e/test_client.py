"""The Python client (``jobgate.Client``, ``jobgate.AsyncClient``) against a real ``jobgate
serve``: every method, errors as the problem document's exceptions, and 503 retried after
``Retry-After`` (against a real HTTP server on loopback that answers 503 first)."""

from __future__ import annotations

import asyncio
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobgate import AsyncClient, Client
from jobgate.client import Invalid, Job, NotFound, Unauthorized, Unavailable
from tests.conftest import ADMIN_KEY
from tests.processes import serving

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real server and a user's key on it."""
    data = tmp_path_factory.mktemp("client") / "data"
    with serving("serve", data) as (url, _):
        made = httpx.post(
            f"{url}/users",
            json={"name": "Ada", "email": "ada@example.com"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        yield url, made.json()["api_key"]


def test_every_method_of_the_client(api: tuple[str, str], tmp_path: Path) -> None:
    url, key = api
    with Client(url, key) as jobs:
        job = jobs.submit("echo", {"n": 1}, idempotency_key="client-1")
        assert job.status == "queued" and job.type == "echo"
        assert jobs.submit("echo", {"n": 1}, idempotency_key="client-1").job_id == job.job_id
        done = jobs.wait(job.job_id, timeout=30)
        assert done.status == "completed" and done.done
        assert jobs.result(job.job_id) == {"n": 1}
        assert jobs.get(job.job_id).status == "completed"
        kinds = [e.kind for e in jobs.events(job.job_id)]
        assert kinds[0] == "submitted" and kinds[-1] == "completed"
        # the live stream: started, progress, completed, in order, then it ends
        slow = jobs.submit("sleep", {"seconds": 1.5})
        names = [name for name, _ in jobs.stream(slow.job_id)]
        assert names[-1] == "job.completed" and "job.progress" in names
        assert names.index("job.started") < names.index("job.progress")
        # a file, downloaded through its signed URL
        archive = jobs.wait(jobs.submit("generate_archive", {"name": "demo"}).job_id, 30)
        path = jobs.download(archive.job_id, tmp_path)
        assert path.parent == tmp_path and zipfile.ZipFile(path).namelist()
        # cancel a running job
        long = jobs.submit("sleep", {"seconds": 30})
        while jobs.get(long.job_id, wait=5).status != "processing":
            pass
        jobs.cancel(long.job_id)
        assert jobs.wait(long.job_id, timeout=30).status == "cancelled"
        # every job, page by page
        listed = list(jobs.jobs(page_size=2))
        assert len(listed) == 4 and len({j.job_id for j in listed}) == 4  # pages of 2, no repeats
        assert all(j.type == "echo" for j in jobs.jobs(job_type="echo"))
        # errors are the problem document's exceptions
        with pytest.raises(NotFound) as missing:
            jobs.get("01JZZZZZZZZZZZZZZZZZZZZZZZ")
        assert missing.value.status == 404 and missing.value.detail
        with pytest.raises(Invalid) as unknown:
            jobs.submit("no_such_type")
        assert unknown.value.status == 422 and "no_such_type" in unknown.value.detail
        # a batch: each job or its own error, in order
        made, bad = jobs.submit_many([{"type": "echo", "payload": 7, "idempotency_key": "b-1"},
                                      {"type": "no_such_type"}])  # fmt: skip
        assert isinstance(made, Job) and made.status == "queued"
        assert isinstance(bad, Invalid) and bad.status == 422
        assert jobs.wait(made.job_id, timeout=30).status == "completed"
    with Client(url, "jg_wrong_key") as stranger, pytest.raises(Unauthorized):
        stranger.get(job.job_id)


def test_the_async_client(api: tuple[str, str], tmp_path: Path) -> None:
    url, key = api

    async def run() -> None:
        async with AsyncClient(url, key) as jobs:
            job = await jobs.submit("echo", {"async": True})
            done = await jobs.wait(job.job_id, timeout=30)
            assert done.status == "completed"
            assert await jobs.result(job.job_id) == {"async": True}
            assert [e.kind for e in await jobs.events(job.job_id)][-1] == "completed"
            names = [name async for name, _ in jobs.stream(job.job_id)]
            assert names[-1] == "job.completed"
            archive = await jobs.wait((await jobs.submit("generate_archive", {})).job_id, 30)
            assert (await jobs.download(archive.job_id, tmp_path)).exists()
            queued = await jobs.submit("echo", {}, delay_seconds=60)
            assert (await jobs.cancel(queued.job_id)).status == "cancelled"
            assert [j async for j in jobs.jobs(page_size=1)]
            with pytest.raises(NotFound):
                await jobs.get("01JZZZZZZZZZZZZZZZZZZZZZZZ")

    # a loop of its own, not asyncio.run: that would drop the thread's current loop (which
    # Mangum, in earlier tests, made) unclosed
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


@pytest.fixture
def busy_then_ok() -> Iterator[tuple[str, list[float]]]:
    """A real HTTP server: ``POST /jobs`` answers 503 with ``Retry-After: 0.2`` twice, then 202
    with a job; records when each request came."""
    seen: list[float] = []
    job = {"job_id": "01J0000000000000000000000A", "type": "echo", "status": "queued",
           "attempt": 0, "max_attempts": 3, "progress": {"pct": 0, "note": ""}, "error": None,
           "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z",
           "artifacts": []}  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            import time

            self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append(time.monotonic())
            busy = len(seen) <= 2
            body = json.dumps(
                {"type": "about:blank", "title": "Busy", "status": 503, "detail": "try later"}
                if busy
                else job
            ).encode()
            self.send_response(503 if busy else 202)
            if busy:
                self.send_header("Retry-After", "0.2")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_503_is_retried_after_retry_after_for_idempotent_submits(
    busy_then_ok: tuple[str, list[float]],
) -> None:
    url, seen = busy_then_ok
    with Client(url, "k") as jobs:
        job = jobs.submit("echo", idempotency_key="same")
    assert job.job_id.endswith("A") and len(seen) == 3
    assert seen[1] - seen[0] >= 0.2 and seen[2] - seen[1] >= 0.2  # waited as told
    seen.clear()
    with Client(url, "k", retries=1) as jobs, pytest.raises(Unavailable) as busy:
        jobs.submit("echo", idempotency_key="again")  # 503, 503: retries spent
    assert busy.value.status == 503 and len(seen) == 2
    seen.clear()
    with Client(url, "k") as jobs, pytest.raises(Unavailable):
        jobs.submit("echo")  # no idempotency key: never sent twice
    assert len(seen) == 1
