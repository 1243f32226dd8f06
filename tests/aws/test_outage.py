"""The emulator stopped for a few seconds mid-run: 503 + Retry-After, and nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from jobgate import bootstrap
from jobgate.api.app import create_app
from jobgate.domain.models import JobStatus
from tests.apps import app as test_app
from tests.conftest import ADMIN_KEY, make_settings
from tests.processes import free_port
from tests.support import provision_aws, running_worker, wait_for

REGION = "us-east-1"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_an_aws_outage_answers_503_and_every_job_completes_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    provision_aws(endpoint, monkeypatch, REGION)
    services = bootstrap.build(
        make_settings(tmp_path, backend="aws", visibility_timeout=3), test_app
    )
    try:
        with TestClient(create_app(services)) as client, running_worker(services):
            # given jobs in flight
            before = [
                client.post("/jobs", json={"type": "effect", "payload": {"seconds": 0.5}},
                            headers=ADMIN).json()["job_id"]
                for _ in range(5)
            ]  # fmt: skip
            # when the backend goes away
            server.stop()
            time.sleep(0.5)
            down = client.post("/jobs", json={"type": "echo"}, headers=ADMIN)
            # then the API answers 503 with Retry-After, never a bare 500
            assert down.status_code == 503, down.text
            assert int(down.headers["retry-after"]) > 0
            assert down.headers["content-type"] == "application/problem+json"
            assert client.get("/readyz").status_code == 503
            time.sleep(2)
            # and once it is back, the work goes on: every job completes
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            after = client.post("/jobs", json={"type": "echo", "payload": 1}, headers=ADMIN)
            assert after.status_code == 202
            ids = [*before, after.json()["job_id"]]
            wait_for(
                lambda: all(
                    services.backend.jobs.get(i).status is JobStatus.COMPLETED  # type: ignore[union-attr]
                    for i in ids
                ),
                timeout=60,
            )
    finally:
        services.close()
        server.stop()
