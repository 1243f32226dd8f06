"""The Lambda entry points, invoked with AWS's own event documents against moto's server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobgate import aws_lambda
from jobgate.domain.models import JobStatus
from jobgate.errors import ConfigurationError
from tests.aws.events import aws_proxy, http_v2, rest_v1, scheduled, sqs_record
from tests.aws.test_aws_stack import aws_env  # noqa: F401 - fixture
from tests.conftest import ADMIN_KEY

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}


class Context:
    """What Lambda passes as ``context`` (the part the handlers use): a clock that runs."""

    log_stream_name = "2026/11/22/[$LATEST]test"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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


def answer_body(answer: dict[str, Any]) -> Any:
    """The JSON an API Gateway answer carries, as a client reads it."""
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


@pytest.mark.parametrize("shape", [http_v2, rest_v1, aws_proxy], ids=["v2", "v1", "sam-rest"])
def test_api_handler_serves_every_api_gateway_shape(
    lambda_env: None, shape: Callable[..., dict[str, Any]]
) -> None:
    submitted = aws_lambda.api_handler(
        shape("POST", "/jobs", {"type": "echo", "payload": 1}, AUTH), Context()
    )
    assert submitted["statusCode"] == 202, submitted
    job_id = answer_body(submitted)["job_id"]
    status = aws_lambda.api_handler(shape("GET", f"/jobs/{job_id}", None, AUTH), Context())
    assert status["statusCode"] == 200 and answer_body(status)["status"] == "queued"


@pytest.mark.parametrize("shape", [http_v2, rest_v1, aws_proxy], ids=["v2", "v1", "sam-rest"])
def test_every_error_answer_arrives_as_readable_text(
    lambda_env: None, shape: Callable[..., dict[str, Any]]
) -> None:
    cases = [
        (shape("POST", "/jobs", {"type": "nope"}, AUTH), 422),
        (shape("GET", "/jobs", None, {"authorization": "Bearer wrong"}), 401),
        (shape("GET", "/jobs/01JZZZZZZZZZZZZZZZZZZZZZZZ", None, AUTH), 404),
    ]
    for event, status in cases:
        answer = aws_lambda.api_handler(event, Context())
        assert answer["statusCode"] == status, answer
        # no base64 for problem documents: API Gateway would hand the client the encoded text
        assert answer["isBase64Encoded"] is False
        assert answer["headers"]["content-type"] == "application/problem+json"
        assert answer_body(answer)["status"] == status


def receive(services: Any, count: int) -> list[dict[str, Any]]:
    """Receive real messages as Lambda's poller does, and shape them as SQS event records."""
    import boto3

    sqs = boto3.session.Session().client("sqs")
    url = services.backend.queue._url
    messages: list[Any] = []
    while len(messages) < count:
        messages += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=1,
        ).get("Messages", [])  # fmt: skip
    return [sqs_record(m) for m in messages]


sqs_records = receive  # the name the IAM test uses


def test_sqs_batch_of_ten_reports_exactly_the_record_to_retry(lambda_env: None) -> None:
    services = aws_lambda._services()
    ids = [services.jobs.submit("alice", "echo", {"n": n})[0].job_id for n in range(9)]
    poison = services.jobs.submit("alice", "fail", None)[0].job_id
    records = receive(services, 10)
    poison_message = next(r["messageId"] for r in records if poison in r["body"])

    answer = aws_lambda.worker_handler({"Records": records}, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": poison_message}]}
    assert all(services.backend.jobs.get(i).status is JobStatus.COMPLETED for i in ids)
    retrying = services.backend.jobs.get(poison)
    assert retrying.status is JobStatus.QUEUED and retrying.attempt == 1


def emf_documents(out: str) -> list[dict[str, Any]]:
    """The EMF documents among printed lines, each checked against the format's rules: an
    ``_aws`` member with a millisecond timestamp and metric directives whose namespace is a
    string, whose dimension sets name members of the document, and whose metrics are members
    holding a number or a list of numbers."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        doc = json.loads(line)
        meta = doc["_aws"]
        assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
        for directive in meta["CloudWatchMetrics"]:
            assert isinstance(directive["Namespace"], str) and directive["Namespace"]
            for dimension_set in directive["Dimensions"]:
                assert all(isinstance(doc[d], str) for d in dimension_set)
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                assert values and all(isinstance(v, int | float) for v in values)
                assert metric.get("Unit", "None") in ("Count", "Seconds", "None")
        found.append(doc)
    return found


def test_the_worker_invocation_reports_its_metrics_as_emf(
    lambda_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    services = aws_lambda._services()
    for n in range(3):
        services.jobs.submit("alice", "echo", {"n": n})
    services.jobs.submit("alice", "fail", None)
    capsys.readouterr()
    aws_lambda.worker_handler({"Records": receive(services, 4)}, Context())
    docs = {d["job_type"]: d for d in emf_documents(capsys.readouterr().out)}
    assert docs["echo"]["jobs_started"] == 3 and docs["echo"]["jobs_completed"] == 3
    assert len(docs["echo"]["job_run_seconds"]) == 3
    assert len(docs["echo"]["job_queue_wait_seconds"]) == 3
    assert docs["fail"]["jobs_retried"] == 1 and "jobs_completed" not in docs["fail"]
    directive = docs["echo"]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["job_type"], []]  # per type, and the totals
    assert directive["Namespace"] == "jobgate"


def test_records_that_are_not_jobgate_messages_go_to_the_dlq(lambda_env: None) -> None:
    """AWS's sample batch as written: two bodies that are not jobgate envelopes."""
    from tests.aws.events import document

    services = aws_lambda._services()
    event = document("powertools/sqsEvent.json")
    answer = aws_lambda.worker_handler(event, Context())
    assert answer == {"batchItemFailures": []}  # not retried: buried
    bodies = sorted(d.body for d in services.backend.dead_letters.peek(10))
    assert bodies == sorted(r["body"] for r in event["Records"])


def test_records_not_started_before_the_time_runs_out_are_given_back(lambda_env: None) -> None:
    services = aws_lambda._services()
    for n in range(3):
        services.jobs.submit("alice", "echo", n)
    records = receive(services, 3)
    answer = aws_lambda.worker_handler({"Records": records}, Context(remaining_ms=5_500))
    assert answer["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in records]
    assert len(services.backend.jobs.list_jobs("alice", status=JobStatus.QUEUED).items) == 3


def test_retry_and_inline_result_settings_reach_the_lambda_worker(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given settings a deployment would set on the worker function
    monkeypatch.setenv("JOBGATE_RETRY_BASE_SECONDS", "40")
    monkeypatch.setenv("JOBGATE_RETRY_CAP_SECONDS", "40")
    monkeypatch.setenv("JOBGATE_INLINE_RESULT_BYTES", "16")
    services = aws_lambda._services()
    flaky = services.jobs.submit("alice", "flaky", {"failures": 1})[0].job_id
    echo = services.jobs.submit("alice", "echo", {"text": "longer than sixteen bytes"})[0].job_id
    # when the worker function runs the batch
    before = time.time()
    aws_lambda.worker_handler({"Records": receive(services, 2)}, Context())
    # then the retry waits by the configured backoff (jittered within [base/2, base])
    retry = services.backend.jobs.get(flaky)
    assert retry.status is JobStatus.QUEUED
    assert 20 - 1 <= retry.run_after - before <= 40 + 1
    # and the result over the configured size went to S3, not into the record
    done = services.backend.jobs.get(echo)
    assert done.status is JobStatus.COMPLETED and done.result is None
    assert json.loads(services.backend.blobs.get(done.result_ref.key)) == {
        "text": "longer than sixteen bytes"
    }


@pytest.mark.parametrize("job_type", ["sleepy", "async_sleepy"])
def test_a_handler_past_the_invocations_time_is_settled_before_lambda_ends_it(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, job_type: str
) -> None:
    monkeypatch.setenv("JOBGATE_LAMBDA_SETTLE_MARGIN_SECONDS", "1")
    services = aws_lambda._services()
    job_id = services.jobs.submit("alice", job_type, {"seconds": 30})[0].job_id
    for attempt in (1, 2):
        # given an invocation with 2.5 s left and a handler that sleeps for 30 (timeout 60)
        records = receive(services, 1)
        context = Context(remaining_ms=2_500)
        started = time.monotonic()
        answer = aws_lambda.worker_handler({"Records": records}, context)
        # then the worker returns before the invocation's deadline, with the attempt settled
        assert time.monotonic() - started < 2.5
        job = services.backend.jobs.get(job_id)
        assert job.attempt == attempt and job.error.type == "TimeoutError"
        if attempt == 1:  # retried: the record is reported so Lambda leaves it in the queue
            assert answer["batchItemFailures"] == [{"itemIdentifier": records[0]["messageId"]}]
            assert job.status is JobStatus.QUEUED
            time.sleep(max(0.0, job.run_after - time.time()))
            services.backend.queue.release(records[0]["receiptHandle"], 0)
        else:  # the last attempt fails the job and buries its message
            assert answer["batchItemFailures"] == []
            assert job.status is JobStatus.FAILED
            assert [job_id in d.body for d in services.backend.dead_letters.peek(10)] == [True]


def test_a_job_type_longer_than_the_worker_function_is_reported_at_start(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOBGATE_WORKER_FUNCTION_TIMEOUT_SECONDS", "45")
    monkeypatch.setenv("JOBGATE_LOG_LEVEL", "error")
    aws_lambda.worker_handler({"Records": []}, Context())
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    findings = [line["fix"] for line in lines if line.get("event") == "job_timeout_too_long"]
    # the test app's types with 60 s timeouts cannot fit 45 s; the 30 s ones can
    assert any("'effect'" in f and "60 s" in f for f in findings)
    assert not any("'echo'" in f for f in findings)


def test_a_scheduled_event_delivered_twice_enqueues_one_job(lambda_env: None) -> None:
    event = scheduled("jobgate-dev-every-minute")
    first = aws_lambda.cron_handler(event, Context())
    again = aws_lambda.cron_handler({**event, "id": "e1-retry"}, Context())
    assert first["created"] is True and again["created"] is False
    services = aws_lambda._services()
    jobs = services.backend.jobs.list_jobs("system:scheduler").items
    assert [j.idempotency_key for j in jobs] == ["schedule:every-minute:2026-11-22T12:00:00Z"]


def test_a_rule_selects_its_schedule_by_its_exact_name(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an app with schedules `report`, `nightly-report` and `db-housekeeping`
    monkeypatch.setenv("JOBGATE_APP", "tests.apps:cron_app")
    for rule, schedule in (
        ("jobgate-dev-nightly-report", "nightly-report"),
        ("jobgate-dev-report", "report"),
        ("jobgate-dev-db-housekeeping", "db-housekeeping"),
    ):
        # when the rule ticks, then that schedule (not a shorter name's) enqueues
        assert aws_lambda.cron_handler(scheduled(rule), Context())["schedule"] == schedule
    # and the housekeeping rule still runs the reconciler
    report = aws_lambda.cron_handler(scheduled("jobgate-dev-housekeeping"), Context())
    assert report["housekeeping"] is True


def test_a_rule_that_names_no_schedule_is_an_error_naming_the_rule(lambda_env: None) -> None:
    event = scheduled("ExampleRule")  # AWS's sample, as written
    with pytest.raises(ConfigurationError, match="'ExampleRule'"):
        aws_lambda.cron_handler(event, Context())


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
    report = aws_lambda.cron_handler(scheduled("jobgate-dev-housekeeping"), Context())
    assert report["housekeeping"] is True and report["resent"] == 1
    again = services.backend.queue.receive(10, visibility_timeout=60, wait_seconds=2)
    assert [job.job_id in d.body for d in again] == [True]
