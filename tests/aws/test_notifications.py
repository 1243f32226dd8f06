"""Notifications on the aws backend, against moto's server over HTTP: every notice published to
the SNS topic with its attributes (an SQS queue subscribed with a filter policy receives exactly
the matching ones), email and SMS subscriptions made as filtered SNS subscriptions, webhooks
from the notifications table delivered and verified with ``standardwebhooks``, the events read
from the jobs table's stream, and a dispatcher that dies before it saves its stream positions
making no second delivery."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from jobgate import bootstrap
from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from jobgate.worker.lambda_worker import NOTIFICATIONS
from tests.api.conftest import ADMIN
from tests.apps import app as test_app
from tests.conftest import ADMIN_KEY, make_settings
from tests.notify.receiver import Receiver
from tests.support import provision_aws, running_worker, wait_status

REGION = "us-east-1"


@pytest.fixture
def aws_services(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Services]:
    httpx.post(f"{moto_endpoint}/moto-api/reset")
    provision_aws(moto_endpoint, monkeypatch, REGION)
    settings = make_settings(
        tmp_path,
        backend="aws",
        admin_key=ADMIN_KEY,
        webhook_allowed_hosts="127.0.0.1",
        webhook_require_https=False,
        public_url="https://jobs.example.test",
    )
    services = bootstrap.build(settings, test_app)
    yield services
    services.close()


def _user(client: TestClient, name: str) -> dict[str, str]:
    """A new user's key header; ``X-Owner`` (not sent, ignored by the API) is their id."""
    made = client.post("/users", json={"name": name, "email": f"{name}@example.com"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["api_key"], "X-Owner": made.json()["user_id"]}


def _probe_queue(topic_arn: str, policy: dict[str, list[str]]) -> tuple[Any, str]:
    """An SQS queue subscribed to the topic with ``policy`` (raw delivery: the body as sent)."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName="probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "true"},
    )
    return sqs, url


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return got
        for m in messages:
            attrs = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
            got.append({"body": json.loads(m["Body"]), "attributes": attrs})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _notify(services: Services) -> None:
    """What the notifications rule's Lambda does each minute (the same code path)."""
    answer = services.cron().handle({"jobgate": NOTIFICATIONS}, lambda: 60.0)
    assert answer["notifications"] is True


def test_every_notice_goes_to_sns_and_a_filtered_queue_gets_exactly_its_own(
    aws_services: Services,
) -> None:
    assert aws_services.backend.topic is not None
    topic_arn = os.environ["NOTIFICATIONS_TOPIC_ARN"]  # the function's setting
    # given a queue that hears only alice's completed "echo" jobs
    with TestClient(create_app(aws_services)) as client:
        alice, bob = _user(client, "alice"), _user(client, "bob")
        owner = alice["X-Owner"]
        sqs, url = _probe_queue(
            topic_arn,
            {"event_type": ["job.completed"], "job_type": ["echo"], "owner": [owner]},
        )
        # when alice and bob run echo and other jobs
        ids = {
            (who, kind): client.post("/jobs", json={"type": kind, "payload": {}}, headers=h).json()[
                "job_id"
            ]
            for who, h in (("alice", alice), ("bob", bob))
            for kind in ("echo", "big")
        }
        with running_worker(aws_services):
            for job_id in ids.values():
                wait_status(aws_services, job_id, JobStatus.COMPLETED, timeout=30)
        _notify(aws_services)
        # then the queue got exactly alice's echo completion, once, in the webhook shape
        (notice,) = _drain(sqs, url)
        body, attrs = notice["body"], notice["attributes"]
        assert body["type"] == "job.completed"
        assert body["data"]["job_id"] == ids[("alice", "echo")]
        assert body["data"]["links"]["self"].startswith("https://jobs.example.test/jobs/")
        assert attrs["event_type"] == "job.completed" and attrs["job_type"] == "echo"
        assert attrs["owner"] == owner and attrs["status"] == "completed"
        events = [e.event_id for e in aws_services.backend.jobs.events(ids[("alice", "echo")])]
        assert attrs["event_id"] in events
        # and nothing is published twice: a second pass finds no new record in the stream
        _notify(aws_services)
        assert _drain(sqs, url) == []


def test_email_and_sms_subscriptions_are_sns_subscriptions_with_their_filter(
    aws_services: Services,
) -> None:
    sns = boto3.client("sns")
    topic_arn = os.environ["NOTIFICATIONS_TOPIC_ARN"]
    with TestClient(create_app(aws_services)) as client:
        alice = _user(client, "alice")
        owner = alice["X-Owner"]
        email = client.post(
            "/notifications/subscribe/email",
            json={"email": "ops@example.com", "event_types": ["job.failed"], "job_types": ["x"]},
            headers=alice,
        )
        sms = client.post(
            "/api/notifications/subscribe/sms",
            json={"phone_number": "+14155550123", "event_types": ["job.completed"]},
            headers=alice,
        )
        assert email.status_code == 201, email.text
        assert sms.status_code == 201, sms.text
        # SNS holds both, each with the filter that makes it hear what it asked for
        found = {
            s["Protocol"]: s
            for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        }
        assert found["email"]["Endpoint"] == "ops@example.com"
        assert found["sms"]["Endpoint"] == "+14155550123"
        policies = {
            protocol: json.loads(
                sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"][
                    "FilterPolicy"
                ]
            )
            for protocol, s in found.items()
        }
        assert policies["email"] == {
            "event_type": ["job.failed"], "job_type": ["x"], "owner": [owner]
        }  # fmt: skip
        assert policies["sms"] == {"event_type": ["job.completed"], "owner": [owner]}
        # the API says what SNS says of the confirmation
        pending = sns.get_subscription_attributes(SubscriptionArn=found["email"]["SubscriptionArn"])
        expected = (
            "pending_confirmation"
            if pending["Attributes"].get("PendingConfirmation") == "true"
            else "active"
        )
        listed = client.get("/notifications/subscriptions", headers=alice).json()
        by_channel = {s["channel"]: s for s in listed["subscriptions"]}
        assert by_channel["email"]["status"] == expected
        # deleting one removes its SNS subscription too
        gone = client.delete(f"/notifications/subscriptions/{email.json()['id']}", headers=alice)
        assert gone.status_code == 204
        left = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert [s["Protocol"] for s in left] == ["sms"]


def test_webhooks_on_aws_are_signed_and_survive_a_dispatcher_crash(
    aws_services: Services,
) -> None:
    receiver = Receiver().start()
    try:
        with TestClient(create_app(aws_services)) as client:
            alice = _user(client, "alice")
            sub = client.post(
                "/notifications/subscribe/webhook",
                json={"url": f"{receiver.url}/hook", "event_types": ["job.completed"]},
                headers=alice,
            )
            assert sub.status_code == 201, sub.text
            job_id = client.post(
                "/jobs", json={"type": "echo", "payload": {"n": 1}}, headers=alice
            ).json()["job_id"]
            with running_worker(aws_services):
                wait_status(aws_services, job_id, JobStatus.COMPLETED, timeout=30)
        # a dispatcher dies after it made the deliveries and published, before it saved its
        # positions in the jobs table's stream
        store: Any = aws_services.backend.notices
        real_save = store._save_cursor
        store._save_cursor = lambda *_: (_ for _ in ()).throw(SystemExit("killed"))
        with pytest.raises(SystemExit):
            _notify(aws_services)
        # when a new process (nothing kept in memory) dispatches
        fresh = bootstrap.build(aws_services.settings, test_app)
        try:
            _notify(fresh)
            # then it read the same events again and made the same delivery (same id), not
            # a second one, and sent it; and the positions it saved leave nothing to re-read
            cursor: Any = fresh.backend.notices
            assert cursor._cursors["notifications"][1], "positions saved"
            _notify(fresh)
        finally:
            fresh.close()
        store._save_cursor = real_save
        (got,) = receiver.received
        verified = Webhook(sub.json()["secret"]).verify(got.body, got.headers)
        assert verified["type"] == "job.completed" and verified["data"]["job_id"] == job_id
        deliveries = client.get(
            f"/notifications/subscriptions/{sub.json()['id']}/deliveries", headers=alice
        ).json()["deliveries"]
        assert [(d["status"], d["attempts"]) for d in deliveries] == [("delivered", 1)]
    finally:
        receiver.stop()
