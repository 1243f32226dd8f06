"""The aws backend assembled from its settings, end to end in one process against moto's server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from jobgate import aws_settings, bootstrap
from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from jobgate.errors import ConfigurationError
from tests.apps import app as test_app
from tests.conftest import make_settings
from tests.support import provision_aws, running_worker, sqs_refusing_sends, wait_status

REGION = "us-east-1"


def test_missing_settings_are_named_together(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*aws_settings.REQUIRED, *aws_settings.OPTIONAL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(ConfigurationError) as missing:
        aws_settings.load()
    for name in aws_settings.REQUIRED[1:]:
        assert name in missing.value.detail
    assert "AWS_REGION" not in missing.value.detail


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fresh resources in moto, and the environment a deployed function would get."""
    import boto3

    httpx.post(f"{moto_endpoint}/moto-api/reset")
    provision_aws(moto_endpoint, monkeypatch, REGION)
    secret_arn = (
        boto3.session.Session()
        .client("secretsmanager")
        .create_secret(
            Name=f"admin-{uuid.uuid4().hex[:6]}", SecretString="jg_admin_from_secrets_manager_0123"
        )["ARN"]
    )
    monkeypatch.setenv("API_KEY_SECRET_ARN", secret_arn)
    yield moto_endpoint


@pytest.fixture
def aws_services(aws_env: str, tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(
        tmp_path, backend="aws", admin_key=None, inline_result_bytes=1000, visibility_timeout=5
    )
    services = bootstrap.build(settings, test_app)
    yield services
    services.close()


def test_a_job_runs_end_to_end_on_the_aws_backend(aws_services: Services) -> None:
    # given the API on the aws backend, with the admin key read from Secrets Manager
    admin = {"Authorization": "Bearer jg_admin_from_secrets_manager_0123"}
    with TestClient(create_app(aws_services)) as client:
        user = client.post("/users", json={"name": "A", "email": "a@example.com"}, headers=admin)
        assert user.status_code == 201, user.text
        alice = {"X-API-Key": user.json()["api_key"]}
        # when a job whose result is too big to keep inline is submitted and a worker runs
        submitted = client.post(
            "/jobs", json={"type": "big", "payload": {"size": 5000}}, headers=alice
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        with running_worker(aws_services):
            wait_status(aws_services, job_id, JobStatus.COMPLETED, timeout=30)
        # then the result comes through a presigned S3 URL, and the history is in DynamoDB
        redirect = client.get(f"/jobs/{job_id}/result", headers=alice, follow_redirects=False)
        assert redirect.status_code == 307
        assert "X-Amz-Signature" in redirect.headers["location"]
        assert len(json.loads(httpx.get(redirect.headers["location"]).content)["blob"]) == 5000
        events = client.get(f"/jobs/{job_id}/events", headers=alice).json()["events"]
        assert [e["kind"] for e in events] == ["submitted", "claimed", "completed"]
        assert client.get(f"/jobs/{job_id}", headers=admin).json()["status"] == "completed"
        status = client.get("/admin/queue-status", headers=admin).json()
        assert status["depth"] == status["in_flight"] == 0


def test_a_failing_job_is_dead_lettered_on_the_aws_backend(aws_services: Services) -> None:
    job, _ = aws_services.jobs.submit("alice", "fail", None)
    with running_worker(aws_services):
        failed = wait_status(aws_services, job.job_id, JobStatus.FAILED, timeout=60)
    assert failed.attempt == 3
    entries = aws_services.dead_letters.entries()
    assert [j.job_id for _, j in entries if j] == [job.job_id]
    assert aws_services.dead_letters.redrive() == 1
    assert aws_services.backend.jobs.get(job.job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_two_mib_payload_and_result_round_trip_through_s3(aws_services: Services) -> None:
    # given a 2 MiB payload (over DynamoDB's 400 KB item limit and SQS's 1 MiB message)
    payload = {"data": "x" * (2 * 1024 * 1024)}
    job, _ = aws_services.jobs.submit("alice", "echo", payload)
    # then the ledger keeps a pointer to S3, and the message stays a small envelope
    assert job.payload is None and job.payload_ref is not None
    assert job.payload_ref.size > 2 * 1024 * 1024
    with running_worker(aws_services):
        done = wait_status(aws_services, job.job_id, JobStatus.COMPLETED, timeout=60)
    # and the 2 MiB result comes back through S3 too
    assert done.result is None and done.result_ref is not None
    url = aws_services.jobs.result("alice", job.job_id).url
    assert url is not None
    assert httpx.get(url).json() == payload


def test_a_submit_sqs_refuses_is_a_503_and_leaves_nothing_behind(aws_services: Services) -> None:
    admin = {"Authorization": "Bearer jg_admin_from_secrets_manager_0123"}
    with TestClient(create_app(aws_services)) as client:
        user = client.post("/users", json={"name": "B", "email": "b@example.com"}, headers=admin)
        alice = {"X-API-Key": user.json()["api_key"], "Idempotency-Key": "order-7"}
        # given SQS refusing the message (a Failed entry in SendMessageBatch's answer)
        with sqs_refusing_sends(aws_services.backend.queue):
            refused = client.post("/jobs", json={"type": "echo", "payload": 1}, headers=alice)
        # then the client gets 503 + Retry-After, as for any outage
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"].isdigit()
        assert refused.headers["content-type"] == "application/problem+json"
        # and no job was left half-written: none listed, no message, the key is free again
        assert client.get("/jobs", headers=alice).json()["jobs"] == []
        assert aws_services.backend.queue.stats().depth == 0
        retried = client.post("/jobs", json={"type": "echo", "payload": 1}, headers=alice)
        assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers
