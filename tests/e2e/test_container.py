"""The container image: the Dockerfile's rules (what hadolint would hold it to, checked here
because hadolint cannot be installed on this machine: it ships only as a binary from GitHub),
a real build where a container engine exists, and the entry point's commands — ``jobgate api``
and ``jobgate worker --health-port`` — started as the image starts them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.processes import ROOT, Process, environment, free_port, wait_healthy
from tests.support import wait_for

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_dockerfile_is_small_pinned_and_runs_as_a_user() -> None:
    steps = instructions()
    bases = [arg for op, arg in steps if op == "FROM"]
    assert bases and all(":" in b.split()[0] and "latest" not in b for b in bases)  # DL3006/7
    assert len(bases) == 2, "a build stage and a slim runtime stage"
    user = [arg for op, arg in steps if op == "USER"]
    assert user and user[-1] not in ("root", "0"), "runs as a non-root user (DL3002)"
    assert not any(op == "ADD" for op, _ in steps), "COPY, not ADD (DL3020)"
    for op, arg in steps:
        if op == "RUN" and "pip install" in arg:
            assert "--no-cache-dir" in arg  # DL3042
    entry = next(arg for op, arg in steps if op == "ENTRYPOINT")
    assert entry == '["jobgate"]'  # the same CLI as everywhere (exec form: signals reach it)
    assert next(arg for op, arg in steps if op == "CMD") == '["api"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv*", "tests", ".jobgate"} <= set(ignored)


def test_the_image_builds_where_a_container_engine_exists(tmp_path: Path) -> None:
    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None or subprocess.run([engine, "info"], capture_output=True).returncode != 0:
        if os.environ.get("CI") == "true" and os.environ.get("JOBGATE_REQUIRE_CONTAINERS"):
            pytest.fail("no container engine, though JOBGATE_REQUIRE_CONTAINERS is set")
        pytest.skip("no container engine on this machine (docker/podman): the build is not run")
    tag = "jobgate-test:latest"
    subprocess.run([engine, "build", "-t", tag, str(ROOT)], check=True, timeout=900)
    for command in (["api", "--help"], ["worker", "--help"]):
        done = subprocess.run([engine, "run", "--rm", tag, *command], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
    user = subprocess.run([engine, "run", "--rm", "--entrypoint", "id", tag, "-u"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert user.stdout.strip() == "10001"


def test_the_entry_points_commands_start_as_the_image_runs_them(tmp_path: Path) -> None:
    """What the image's ENTRYPOINT + CMD run (``jobgate api``; ``jobgate worker
    --health-port``), with the image's settings, as separate processes."""
    data = tmp_path / "data"
    api_port, health_port = free_port(), free_port()
    image_env = {"log_format": "json"}  # JOBGATE_HOST=0.0.0.0 in the image; loopback here
    api = Process(["api", "--host", "127.0.0.1", "--port", str(api_port)],
                  environment(data, **image_env), tmp_path / "api.log")  # fmt: skip
    worker = Process(["worker", "--health-port", str(health_port)],
                     environment(data, **image_env), tmp_path / "worker.log")  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{api_port}", api)
        wait_healthy(f"http://127.0.0.1:{health_port}", worker)
        answer = httpx.get(f"http://127.0.0.1:{health_port}/healthz")
        assert answer.json() == {"status": "ok"}
        # a job through both: the API counts the submit, the worker (on its health port) the run
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        job = httpx.post(f"http://127.0.0.1:{api_port}/jobs", json={"type": "echo"}, headers=admin)
        job_url = f"http://127.0.0.1:{api_port}/jobs/{job.json()['job_id']}?wait=10"
        assert httpx.get(job_url, headers=admin, timeout=15).json()["status"] in (
            "processing", "completed")  # fmt: skip
        wait_for(lambda: httpx.get(job_url, headers=admin, timeout=15).json()["status"]
                 == "completed", timeout=30)  # fmt: skip
        worker_metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics").text
        assert 'jobgate_jobs_completed_total{job_type="echo"} 1.0' in worker_metrics
        api_metrics = httpx.get(f"http://127.0.0.1:{api_port}/metrics", headers=admin).text
        assert 'jobgate_jobs_submitted_total{job_type="echo"} 1.0' in api_metrics
    finally:
        assert api.stop() == 0
        assert worker.stop() == 0
