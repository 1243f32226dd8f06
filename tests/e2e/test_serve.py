"""End to end through a real `jobgate serve` process, driven over HTTP like a user would."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from jobgate.backends.local.blobs import UrlSigner
from tests.conftest import ADMIN_KEY
from tests.processes import ROOT, SIGNING_KEY, environment, serving

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def wait_all_finished(
    http: httpx.Client, ids: list[str], timeout: float = 60
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    finished: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = http.get(f"/jobs/{job_id}").json()
            if job["status"] in ("completed", "failed", "cancelled"):
                finished[job_id] = job
                pending.discard(job_id)
        time.sleep(0.1)
    assert not pending, f"{len(pending)} jobs did not finish"
    return finished


def test_two_hundred_jobs_results_and_artifacts_through_signed_urls(tmp_path: Path) -> None:
    # given `jobgate serve` with the demo jobs, storing every result as a blob
    with (
        serving("serve", tmp_path / "data", inline_result_bytes=0, log_level="info") as (
            url,
            process,
        ),
        httpx.Client(base_url=url, headers=ADMIN, timeout=30) as http,
    ):
        user = http.post("/users", json={"name": "E2E", "email": "e2e@example.com"}).json()
        http.headers["Authorization"] = f"Bearer {user['api_key']}"

        # when 200 jobs are submitted over HTTP from 8 client threads
        def submit(n: int) -> str:
            response = http.post("/jobs", json={"type": "echo", "payload": {"n": n}})
            assert response.status_code == 202, response.text
            return str(response.json()["job_id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(submit, range(200)))
        archive_id = http.post(
            "/jobs",
            json={"type": "generate_archive", "payload": {"name": "demo", "type": "api"}},
        ).json()["job_id"]

        # then all complete
        finished = wait_all_finished(http, [*ids, archive_id])
        assert {j["status"] for j in finished.values()} == {"completed"}

        # a result comes through a signed URL (307 redirect, no API key needed)
        redirect = http.get(f"/jobs/{ids[7]}/result", follow_redirects=False)
        assert redirect.status_code == 307
        signed = redirect.headers["location"]
        assert httpx.get(signed).json() == {"n": 7}

        # the ZIP artifact downloads through its signed URL and opens
        link = http.get(f"/jobs/{archive_id}/download-url").json()["url"]
        download = httpx.get(link)
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
        assert {"README.md", "main.py"} <= set(names)

        # a tampered URL is refused
        parts = urlsplit(link)
        query = parse_qs(parts.query)
        tampered_sig = link.replace(query["sig"][0], query["sig"][0][::-1])
        other_file = link.replace("archive.zip", "result.json", 1)
        later = link.replace(
            f"expires={query['expires'][0]}", f"expires={int(query['expires'][0]) + 3600}"
        )
        for bad in (tampered_sig, other_file, later):
            assert httpx.get(bad).status_code == 403, bad

        # and a correctly signed URL whose time has passed is refused too
        key = parts.path.removeprefix("/blobs/")
        past = int(time.time()) - 5
        signature = UrlSigner(SIGNING_KEY.encode()).signature(key, past, "archive.zip")
        expired = f"{url}/blobs/{quote(key)}?expires={past}&sig={signature}&filename=archive.zip"
        refused = httpx.get(expired)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"

        # the logs are JSON lines with request ids, and hold no key and no signature
        log_text = process.log.read_text()
        records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
        requests = [r for r in records if r.get("event") == "request"]
        assert len(requests) > 200 and all(r["request_id"] for r in requests)
        assert any(r.get("logger") == "uvicorn.error" for r in records)  # uvicorn's too
        for secret in (user["api_key"], ADMIN_KEY, query["sig"][0], signature):
            assert secret not in log_text


def test_cli_submit_waits_and_prints_the_result(tmp_path: Path) -> None:
    with serving("serve", tmp_path / "data") as (url, _):
        env = environment(tmp_path / "data", url=url)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jobgate.cli.main",
                "submit",
                "process_data",
                "--payload",
                '{"input": "hello jobgate"}',
                "--wait",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert '"status": "completed"' in done.stdout
        assert "HELLO JOBGATE" in done.stdout
        assert "100.0%" in done.stderr  # the progress display
        assert f"jobgate: the API at {url}" in done.stderr  # which service answers
        listed = subprocess.run(
            [sys.executable, "-m", "jobgate.cli.main", "jobs"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "process_data" in listed.stdout and "completed" in listed.stdout
