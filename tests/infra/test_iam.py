"""Least privilege, derived from the code: the functions' IAM grants against the boto3 calls.

``infra/terraform/deploy/30_app/code-permissions.json`` is what each Lambda role may do, per
resource. Two checks hold it to the code:

* statically, every boto3 operation the aws adapters call maps to an action some role grants,
  and every granted action is one the adapters call;
* per path, each handler is driven through its real work against moto (every API route, a
  worker batch with success/retry/poison/blobs, a schedule tick and housekeeping), every AWS
  call is recorded with the resource it touched, and the role must grant exactly those
  (action, resource) pairs: nothing the path calls is missing, nothing granted goes unused.
"""

from __future__ import annotations

import ast
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import pytest

from jobgate import aws_lambda
from jobgate.backends.aws.s3 import S3BlobStore
from tests.aws.events import http_v2, scheduled
from tests.aws.test_aws_stack import aws_env  # noqa: F401 - fixture
from tests.aws.test_lambda_handlers import Context, sqs_records
from tests.notify.receiver import Receiver
from tests.processes import ROOT
from tests.support import sqs_refusing_sends

PERMISSIONS = ROOT / "infra" / "terraform" / "deploy" / "30_app" / "code-permissions.json"
ADAPTERS = ROOT / "src" / "jobgate" / "backends" / "aws"
CLIENTS = {"_db": "dynamodb", "_streams": "dynamodb", "_sqs": "sqs", "_s3": "s3", "_sns": "sns"}
#: boto3 operation => IAM action, where the name is not simply the operation's
SPECIAL = {
    "send_message_batch": "SendMessage",
    "delete_message_batch": "DeleteMessage",
    "change_message_visibility_batch": "ChangeMessageVisibility",
    "head_object": "GetObject",  # HeadObject is authorised as s3:GetObject
    "generate_presigned_url": "GetObject",  # jobgate presigns get_object only (S3BlobStore)
    "publish_batch": "Publish",  # PublishBatch is authorised as sns:Publish
}
#: operations authorised item by item: the IAM actions of the items jobgate's calls carry
TRANSACTIONS = {
    # DynamoJobStore.create puts the job and its idempotency key; withdraw deletes them
    "transact_write_items": ("PutItem", "DeleteItem"),
}


def granted() -> dict[str, dict[str, set[str]]]:
    raw = json.loads(PERMISSIONS.read_text())
    return {
        role: {kind: set(actions) for kind, actions in grants.items()}
        for role, grants in raw.items()
        if not role.startswith("_")
    }


def action(service: str, operation: str) -> str:
    name = SPECIAL.get(operation) or "".join(p.title() for p in operation.split("_"))
    return f"{service}:{name}"


def called_in_code() -> set[str]:
    """Every IAM action the aws adapters' boto3 calls need (read from their source)."""
    actions: set[str] = set()
    for path in ADAPTERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            if isinstance(target, ast.Attribute) and target.attr in CLIENTS:
                service, operation = CLIENTS[target.attr], node.func.attr
                items = TRANSACTIONS.get(operation)
                if items is None:
                    actions.add(action(service, operation))
                else:
                    actions.update(f"{service}:{item}" for item in items)
            elif (
                path.name == "secrets.py" and isinstance(target, ast.Name) and target.id == "client"
            ):
                actions.add(action("secretsmanager", node.func.attr))
    return actions


def test_the_roles_grant_exactly_the_actions_the_adapters_call() -> None:
    in_policies = {a for grants in granted().values() for acts in grants.values() for a in acts}
    in_code = called_in_code()
    assert in_code - in_policies == set(), "called by the code, granted to no role"
    assert in_policies - in_code == set(), "granted, but no adapter calls it"
    assert {"dynamodb:UpdateItem", "sqs:SendMessage", "s3:GetObject"} <= in_code  # the scan works


class Recorder:
    """Wraps botocore's one call path; records (action, resource kind) under the current role."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.role: str | None = None
        self.calls: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def note(self, service: str, operation: str, params: dict[str, Any]) -> None:
        if self.role is None:
            return
        if operation == "TransactWriteItems":  # authorised item by item
            items = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}  # fmt: skip
            targets = [
                (f"dynamodb:{items[kind]}", item)
                for entry in params["TransactItems"]
                for kind, item in entry.items()
            ]
        elif operation == "GetRecords":  # names no stream: only the jobs stream is read
            stream = next(where for where, kind in self.kinds.items() if kind == "jobs_stream")
            targets = [(action(service, "get_records"), {"StreamArn": stream})]
        elif "RequestItems" in params:  # BatchGetItem / BatchWriteItem: per table
            targets = [
                (action(service, _snake(operation)), {"TableName": t})
                for t in params["RequestItems"]
            ]
        else:
            name = {"PublishBatch": "publish_batch"}.get(operation, _snake(operation))
            targets = [(action(service, name), params)]
        with self._lock:
            for act, args in targets:
                where = (
                    args.get("TableName") or args.get("StreamArn") or args.get("QueueUrl")
                    or args.get("Bucket")
                    or args.get("SecretId") or args.get("TopicArn") or args.get("SubscriptionArn")
                )  # fmt: skip
                if where is not None:
                    self.calls.setdefault(self.role, set()).add((act, self.kind(where)))

    def kind(self, where: str) -> str:
        """The resource kind of a name or ARN; a subscription's ARN is its topic's, plus an id."""
        return self.kinds.get(where) or self.kinds[where.rsplit(":", 1)[0]]

    @contextmanager
    def as_role(self, role: str) -> Iterator[None]:
        self.role = role
        try:
            yield
        finally:
            self.role = None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@pytest.fixture
def recorder(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Recorder:  # noqa: F811
    import os

    kinds = {
        os.environ["JOBS_TABLE_NAME"]: "jobs_table",
        os.environ["JOBS_STREAM_ARN"]: "jobs_stream",
        os.environ["EVENTS_TABLE_NAME"]: "events_table",
        os.environ["USERS_TABLE_NAME"]: "users_table",
        os.environ["JOBS_QUEUE_URL"]: "jobs_queue",
        os.environ["JOBS_DLQ_URL"]: "jobs_dlq",
        os.environ["S3_BUCKET_NAME"]: "blobs",
        os.environ["API_KEY_SECRET_ARN"]: "admin_key",
        os.environ["NOTIFICATIONS_TOPIC_ARN"]: "notifications_topic",
    }
    recorder = Recorder(kinds)
    real_call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private

    def recording_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.signing_name
        recorder.note(service, operation, params)
        return real_call(self, operation, params)

    real_sign = S3BlobStore.signed_url

    def recording_sign(self: S3BlobStore, *args: Any, **kwargs: Any) -> str:
        recorder.note("s3", "GetObject", {"Bucket": self._bucket})  # the URL is signed for it
        return real_sign(self, *args, **kwargs)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording_call)
    monkeypatch.setattr(S3BlobStore, "signed_url", recording_sign)
    for name, value in {
        "JOBGATE_BACKEND": "aws", "JOBGATE_APP": "tests.apps:app", "JOBGATE_LOG_LEVEL": "warning",
        "JOBGATE_RETRY_BASE_SECONDS": "0.01", "JOBGATE_RETRY_CAP_SECONDS": "0.02",
        "JOBGATE_INLINE_PAYLOAD_BYTES": "1000", "JOBGATE_INLINE_RESULT_BYTES": "1000",
        "JOBGATE_STALE_QUEUED_SECONDS": "0.2", "JOBGATE_VISIBILITY_TIMEOUT": "30",
        "JOBGATE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "JOBGATE_WEBHOOK_REQUIRE_HTTPS": "false",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JOBGATE_ADMIN_KEY", raising=False)  # the API reads it from the secret
    monkeypatch.setattr(aws_lambda, "_state", {})
    return recorder


def call_api(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    answer = aws_lambda.api_handler(http_v2(method, path, body, headers), Context())
    assert answer["statusCode"] < 400, (method, path, answer)
    return json.loads(answer["body"]) if answer.get("body") else None


def run_worker(recorder: Recorder, services: Any, count: int) -> dict[str, Any]:
    records = sqs_records(services, count)  # what Lambda's poller receives, not the function
    with recorder.as_role("worker"):
        return aws_lambda.worker_handler({"Records": records}, Context())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_each_role_grants_exactly_what_its_path_calls(
    recorder: Recorder, receiver: Receiver
) -> None:
    admin = {"Authorization": "Bearer jg_admin_from_secrets_manager_0123"}
    with recorder.as_role("api"):
        user = call_api("POST", "/users", {"name": "A", "email": "a@example.com"}, admin)
        alice = {"X-API-Key": user["api_key"]}
        hook = call_api("POST", "/notifications/subscribe/webhook", {"url": receiver.url}, alice)
        mail = call_api("POST", "/notifications/subscribe/email", {"email": "a@example.com"}, alice)
        call_api("POST", "/notifications/subscribe/sms", {"phone_number": "+14155550123"}, alice)
        small = call_api("POST", "/jobs", {"type": "echo", "payload": {"n": 1}}, alice)
        call_api("POST", "/jobs", {"type": "big", "payload": {"size": 5000, "pad": "p" * 2000}},
                 {**alice, "Idempotency-Key": "k1"})  # fmt: skip
        call_api("POST", "/jobs", {"type": "permanent"}, alice)
        call_api("POST", "/jobs", {"type": "flaky"}, alice)
        doomed = call_api("POST", "/jobs", {"type": "echo"}, alice)
        call_api("DELETE", f"/jobs/{doomed['job_id']}", None, alice)
    services = aws_lambda._services(admin=True)
    run_worker(recorder, services, 4)  # echo, big (payload and result in S3), poison, flaky (retry)
    with recorder.as_role("api"):
        call_api("POST", "/jobs", {"type": "echo"}, alice)
    run_worker(recorder, services, 1)  # a batch of one reads its job alone
    big = next(j for j in services.backend.jobs.list_jobs(None).items if j.type == "big")
    with recorder.as_role("api"):
        call_api("GET", f"/jobs/{small['job_id']}", None, alice)
        call_api("GET", "/jobs", None, alice)
        call_api("GET", "/jobs", None, admin)
        call_api("GET", f"/jobs/{small['job_id']}/events", None, alice)
        call_api("GET", f"/jobs/{big.job_id}/download-url", None, alice)
        call_api("GET", "/users", None, admin)
        call_api("GET", f"/users/{user['user_id']}/keys", None, admin)
        fresh = call_api("POST", f"/users/{user['user_id']}/keys", None, admin)
        call_api("DELETE", f"/users/{user['user_id']}/keys/{fresh['key_id']}", None, admin)
        other = call_api("POST", "/users", {"name": "B", "email": "b@example.com"}, admin)
        call_api("PATCH", f"/users/{other['user_id']}", {"email": "b2@example.com"}, admin)
        call_api("DELETE", f"/users/{other['user_id']}", None, admin)
        call_api("GET", "/admin/queue-status", None, admin)
        call_api("GET", "/admin/schedules", None, admin)
        lost = call_api("POST", "/jobs", {"type": "echo"}, alice)  # its message will vanish
        with sqs_refusing_sends(services.backend.queue):  # a submit SQS refuses is withdrawn
            refused = aws_lambda.api_handler(
                http_v2("POST", "/jobs", {"type": "echo"}, alice), Context()
            )
        assert refused["statusCode"] == 503
        call_api("GET", "/notifications/subscriptions", None, alice)
        call_api("POST", f"/notifications/subscriptions/{hook['id']}/rotate-secret", None, alice)
        call_api("DELETE", f"/notifications/subscriptions/{mail['id']}", None, alice)
    for delivery in services.backend.queue.receive(10, visibility_timeout=60, wait_seconds=1):
        if lost["job_id"] in delivery.body:
            services.backend.queue.ack([delivery.receipt])
    time.sleep(0.3)  # past JOBGATE_STALE_QUEUED_SECONDS: housekeeping re-sends it
    with recorder.as_role("cron"):
        aws_lambda.cron_handler(scheduled("jobgate-test-every-minute"), Context())
        aws_lambda.cron_handler(scheduled("jobgate-test-housekeeping"), Context())
        aws_lambda.cron_handler(scheduled("jobgate-test-notifications"), Context())
    assert any("job.completed" in r.body for r in receiver.received)
    with recorder.as_role("api"):
        sent = call_api("GET", f"/notifications/subscriptions/{hook['id']}/deliveries", None, alice)
        replay = f"/notifications/subscriptions/{hook['id']}/deliveries/"
        call_api("POST", replay + sent["deliveries"][0]["id"] + "/replay", None, alice)

    grants, problems = granted(), []
    for role in ("api", "worker", "cron"):
        pairs = {(a, kind) for kind, acts in grants[role].items() for a in acts}
        called = recorder.calls.get(role, set())
        problems += [f"{role}: calls {a} on {k}, not granted" for a, k in sorted(called - pairs)]
        problems += [f"{role}: granted {a} on {k}, never called" for a, k in sorted(pairs - called)]
    assert not problems, "\n".join(problems)
