"""Faults with real processes: kill -9 of a busy worker, SIGTERM mid-job, the DLQ commands."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from jobgate import bootstrap
from jobgate.domain.models import JobStatus
from tests.apps import app as test_app
from tests.conftest import ADMIN_KEY, make_settings
from tests.processes import ROOT, environment, serving, worker
from tests.support import effects, provision_aws, wait_for

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FAST = {
    "app": "tests.apps:app",
    "visibility_timeout": 2,
    "retry_base_seconds": 0.05,
    "retry_cap_seconds": 0.1,
    "reconcile_interval_seconds": 1,
}


@pytest.fixture(params=["local", "aws"])
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Settings for the backend under test. For ``aws``: fresh resources in moto's server (over
    HTTP on loopback), and the environment the API and worker processes inherit."""
    if request.param == "local":
        return {}
    endpoint = request.getfixturevalue("moto_endpoint")
    httpx.post(f"{endpoint}/moto-api/reset")
    provision_aws(endpoint, monkeypatch)
    return {"backend": "aws"}


def ledger(data_dir: Path, stack: dict[str, object]):  # an operator's view of the same ledger
    return bootstrap.build(make_settings(data_dir, **stack), test_app)


def statuses(http: httpx.Client, ids: list[str]) -> Counter[str]:
    return Counter(http.get(f"/jobs/{i}").json()["status"] for i in ids)


def test_kill_9_with_20_jobs_in_flight_loses_nothing_and_completes_nothing_twice(
    tmp_path: Path, stack: dict[str, object]
) -> None:
    data = tmp_path / "data"
    effects_file = tmp_path / "effects.log"
    settings = {**FAST, **stack, "test_effects": effects_file, "worker_concurrency": 24}
    with (
        serving("api", data, **settings) as (url, _),
        httpx.Client(base_url=url, headers=ADMIN) as http,
    ):
        # given a worker running 20 jobs at once
        first = worker(data, "worker-1", **settings)
        ids = [
            http.post("/jobs", json={"type": "effect", "payload": {"seconds": 3}}).json()["job_id"]
            for _ in range(20)
        ]
        wait_for(lambda: statuses(http, ids)["processing"] == 20, timeout=30)
        # when it is killed with SIGKILL mid-flight, and a new worker starts
        first.kill9()
        assert statuses(http, ids)["processing"] == 20
        second = worker(data, "worker-2", **settings)
        try:
            wait_for(lambda: statuses(http, ids)["completed"] == 20, timeout=60)
        except AssertionError:
            detail = [http.get(f"/jobs/{i}").json() for i in ids]
            queue = http.get("/admin/queue-status").json()
            raise AssertionError(
                f"not all completed: {queue} {[(j['status'], j['attempt'], j['error']) for j in detail]}"
            ) from None
        finally:
            second.stop()
    # then every job completed exactly once, and none is left processing
    services = ledger(data, stack)
    try:
        for job_id in ids:
            job = services.backend.jobs.get(job_id)
            assert job is not None and job.status is JobStatus.COMPLETED
            kinds = [e.kind for e in services.backend.jobs.events(job_id)]
            assert kinds.count("completed") == 1
            assert job.attempt == 2  # the killed attempt counts
        assert services.backend.jobs.list_jobs(None, status=JobStatus.PROCESSING).items == []
        assert services.backend.queue.stats().depth == services.backend.queue.stats().in_flight == 0
    finally:
        services.close()
    done = effects(effects_file)
    assert all(done[(job_id, "done")] == 1 for job_id in ids)


def test_sigterm_during_a_job_loses_nothing(tmp_path: Path, stack: dict[str, object]) -> None:
    data = tmp_path / "data"
    effects_file = tmp_path / "effects.log"
    settings = {
        **FAST,
        **stack,
        "test_effects": effects_file,
        "worker_concurrency": 2,
        "shutdown_grace_seconds": 10,
    }
    with (
        serving("api", data, **settings) as (url, _),
        httpx.Client(base_url=url, headers=ADMIN) as http,
    ):
        # given a worker busy with 2 of 6 one-second jobs
        running = worker(data, "worker-1", **settings)
        ids = [
            http.post("/jobs", json={"type": "slow", "payload": {"seconds": 1}}).json()["job_id"]
            for _ in range(6)
        ]
        # (a handler has started: a batch claimed as the stop comes is handed back instead)
        wait_for(lambda: any(what == "start" for _, what in effects(effects_file)), timeout=30)
        # when it gets SIGTERM, it finishes what it started and exits cleanly
        assert running.stop(signal.SIGTERM) == 0
        after_stop = statuses(http, ids)
        assert after_stop["processing"] == 0
        assert after_stop["completed"] >= 1
        # and a new worker completes the rest
        second = worker(data, "worker-2", **settings)
        try:
            wait_for(lambda: statuses(http, ids)["completed"] == 6, timeout=60)
        finally:
            second.stop()
    started = effects(effects_file)
    assert all(started[(job_id, "done")] == 1 for job_id in ids)


def cli(data: Path, *args: str, **settings: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobgate.cli.main", *args],
        env=environment(data, **FAST, **settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_failing_job_reaches_the_dlq_and_redrive_brings_it_back(
    tmp_path: Path, stack: dict[str, object]
) -> None:
    data = tmp_path / "data"
    with (
        serving("serve", data, **FAST, **stack) as (url, _),
        httpx.Client(base_url=url, headers=ADMIN) as http,
    ):
        job_id = http.post("/jobs", json={"type": "fail"}).json()["job_id"]
        failed = wait_for(
            lambda: (j := http.get(f"/jobs/{job_id}").json())["status"] == "failed" and j,
            timeout=30,
        )
        assert failed["attempt"] == failed["max_attempts"] == 3
        assert http.get("/admin/queue-status").json()["dlq_depth"] == 1

        listed = cli(data, "dlq", "list", **stack)
        assert listed.returncode == 0, listed.stderr
        assert job_id in listed.stdout and "RuntimeError" in listed.stdout

        redriven = cli(data, "dlq", "redrive", **stack)
        assert redriven.returncode == 0 and "redrove 1" in redriven.stdout
        # it runs again (three more attempts) and fails again, back in the DLQ
        try:
            again = wait_for(
                lambda: (
                    (j := http.get(f"/jobs/{job_id}").json())["attempt"] == 6
                    and j["status"] == "failed"
                    and j
                ),
                timeout=30,
            )
        except AssertionError:
            job = http.get(f"/jobs/{job_id}").json()
            events = http.get(f"/jobs/{job_id}/events").json()["events"]
            queue = http.get("/admin/queue-status").json()
            raise AssertionError(
                f"{job['status']} {job['attempt']}/{job['max_attempts']} {queue} "
                f"{[(e['kind'], e['attempt']) for e in events]}"
            ) from None
        assert again["max_attempts"] == 6
        purged = cli(data, "dlq", "purge", **stack)
        assert "purged 1" in purged.stdout
        assert http.get("/admin/queue-status").json()["dlq_depth"] == 0


def test_users_create_command_prints_a_working_key(
    tmp_path: Path, stack: dict[str, object]
) -> None:
    data = tmp_path / "data"
    created = cli(
        data, "users", "create", "--name", "Grace", "--email", "grace@example.com", **stack
    )
    assert created.returncode == 0, created.stderr
    key = next(line.split('"')[3] for line in created.stdout.splitlines() if '"api_key"' in line)
    bad = cli(data, "users", "create", "--name", "X", "--email", "nope", **stack)
    assert bad.returncode == 2 and "not a valid email" in bad.stdout
    with serving("api", data, **FAST, **stack) as (url, _):
        assert httpx.get(f"{url}/jobs", headers={"X-API-Key": key}).status_code == 200
