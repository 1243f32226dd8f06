"""The Lambda entry points, invoked with real event documents against moto's server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobgate import aws_lambda
from jobgate.domain.models import JobStatus
from tests.aws.test_aws_stack import aws_env  # noqa: F401 - fixture
from tests.conftest import ADMIN_KEY


class Context:
    """What Lambda passes as ``context`` (the part the handlers use)."""

    log_stream_name = "2026/11/22/[$LATEST]test"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_env(aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    for name, value in {
        "JOBGATE_BACKEND": "aws", "JOBGATE_APP": "tests.apps:app", "JOBGATE_DATA_DIR": str(tmp_path),
        "JOBGATE_ADMIN_KEY": ADMIN_KEY, "JOBGATE_LOG_LEVEL": "warning",
        "JOBGATE_RETRY_BASE_SECONDS": "0.01", "JOBGATE_RETRY_CAP_SECONDS": "0.02",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws_lambda, "_state", {})
    yield


def http_v2(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.1", "userAgent": "test"}, "requestId": "req-1",
            "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795000000000,
        },
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }  # fmt: skip


def rest_v1(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/prod{path}",
                           "stage": "prod", "requestId": "req-2", "identity": {"sourceIp": "203.0.113.1"},
                           "accountId": "123456789012", "apiId": "api"},
    }  # fmt: skip


def test_api_handler_serves_http_api_v2_and_rest_v1_events(lambda_env: None) -> None:
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    submitted = aws_lambda.api_handler(
        http_v2("POST", "/jobs", {"type": "echo", "payload": 1}, auth), Context()
    )
    assert submitted["statusCode"] == 202, submitted
    job_id = json.loads(submitted["body"])["job_id"]
    status = aws_lambda.api_handler(rest_v1("GET", f"/jobs/{job_id}", auth), Context())
    assert status["statusCode"] == 200 and json.loads(status["body"])["status"] == "queued"
    bad = aws_lambda.api_handler(http_v2("POST", "/jobs", {"type": "nope"}, auth), Context())
    assert bad["statusCode"] == 422
    assert bad["headers"]["content-type"] == "application/problem+json"


def sqs_records(services: Any, count: int) -> list[dict[str, Any]]:
    """Receive real messages and shape them as Lambda's SQS event records."""
    import boto3

    sqs = boto3.session.Session().client("sqs")
    url = services.backend.queue._url
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        messages += got
    return [
        {
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {
                k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                for k, v in (m.get("MessageAttributes") or {}).items()
            },
            "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        }
        for m in messages
    ]  # fmt: skip


def test_sqs_batch_of_ten_reports_exactly_the_poison_record(lambda_env: None) -> None:
    services = aws_lambda._services()
    ids = [services.jobs.submit("alice", "echo", {"n": n})[0].job_id for n in range(9)]
    poison = services.jobs.submit("alice", "fail", None)[0].job_id
    records = sqs_records(services, 10)
    poison_message = next(r["messageId"] for r in records if poison in r["body"])

    answer = aws_lambda.worker_handler({"Records": records}, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": poison_message}]}
    assert all(services.backend.jobs.get(i).status is JobStatus.COMPLETED for i in ids)
    retrying = services.backend.jobs.get(poison)
    assert retrying.status is JobStatus.QUEUED and retrying.attempt == 1


def test_records_not_started_before_the_time_runs_out_are_given_back(lambda_env: None) -> None:
    services = aws_lambda._services()
    for n in range(3):
        services.jobs.submit("alice", "echo", n)
    records = sqs_records(services, 3)
    answer = aws_lambda.worker_handler({"Records": records}, Context(remaining_ms=5_000))
    assert answer["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in records]
    assert services.backend.jobs.list_jobs("alice", status=JobStatus.QUEUED).items != []


def test_a_scheduled_event_delivered_twice_enqueues_one_job(lambda_env: None) -> None:
    event = {
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/jobgate-dev-every-minute"],
        "detail": {},
    }  # fmt: skip
    first = aws_lambda.cron_handler(event, Context())
    again = aws_lambda.cron_handler({**event, "id": "e1-retry"}, Context())
    assert first["created"] is True and again["created"] is False
    services = aws_lambda._services()
    jobs = services.backend.jobs.list_jobs("system:scheduler").items
    assert [j.idempotency_key for j in jobs] == ["schedule:every-minute:2026-11-22T12:00:00Z"]


def test_the_housekeeping_rule_runs_the_reconciler(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Lambda nothing else repairs lost work: a queued job whose message vanished is re-sent."""
    monkeypatch.setenv("JOBGATE_STALE_QUEUED_SECONDS", "0.5")
    services = aws_lambda._services()
    job, _ = services.jobs.submit("alice", "echo", {"n": 1})
    lost = services.backend.queue.receive(10, visibility_timeout=60, wait_seconds=1)
    services.backend.queue.ack([d.receipt for d in lost])  # the message is gone, the job queued
    time.sleep(0.6)
    event = {
        "version": "0", "id": "h1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T12:05:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/jobgate-dev-housekeeping"],
        "detail": {},
    }  # fmt: skip
    report = aws_lambda.cron_handler(event, Context())
    assert report["housekeeping"] is True and report["resent"] == 1
    again = services.backend.queue.receive(10, visibility_timeout=60, wait_seconds=2)
    assert [job.job_id in d.body for d in again] == [True]
