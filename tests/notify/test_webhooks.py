"""Webhooks end to end on the local backend: a real worker, the notifier's threads, and a real
HTTP receiver on loopback that verifies every delivery with the ``standardwebhooks`` package."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook, WebhookVerificationError

from jobgate import bootstrap
from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from tests.api.conftest import ADMIN
from tests.apps import app as test_app
from tests.conftest import make_settings
from tests.notify.receiver import Receiver
from tests.support import running_worker, wait_for, wait_status

FAST_RETRIES = "0,0.3,0.3,0.3,0.3,0.3,0.3,0.3"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(
        tmp_path / "data",
        webhook_allowed_hosts="127.0.0.1",
        webhook_require_https=False,
        webhook_retry_schedule=FAST_RETRIES,
        notify_poll_seconds=0.02,
        public_url="http://jobs.example.test",
    )
    built = bootstrap.build(settings, test_app)
    notifier = built.notifier()
    assert notifier is not None
    notifier.start()
    yield built
    notifier.stop()
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def alice(client: TestClient) -> dict[str, str]:
    user = client.post("/users", json={"name": "A", "email": "a@example.com"}, headers=ADMIN)
    return {"X-API-Key": user.json()["api_key"]}


def subscribe(
    client: TestClient, headers: dict[str, str], url: str, **extra: Any
) -> dict[str, Any]:
    answer = client.post(
        "/notifications/subscribe/webhook", json={"url": url, **extra}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def notices(receiver: Receiver, kind: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(r.body) for r in receiver.bodies()]
    return [n for n in found if kind is None or n["type"] == kind]


def test_every_delivery_verifies_with_standard_webhooks_and_tampering_does_not(
    services: Services, client: TestClient, receiver: Receiver
) -> None:
    # given a webhook subscription for completions of one job type
    me = alice(client)
    sub = subscribe(client, me, f"{receiver.url}/hook", event_types=["job.completed"])
    assert sub["secret"].startswith("whsec_") and sub["status"] == "active"
    # when a job of that type completes (and one of another type, which is filtered out)
    job = client.post("/jobs", json={"type": "big", "payload": {"size": 100_000}}, headers=me)
    with running_worker(services):
        wait_status(services, job.json()["job_id"], JobStatus.COMPLETED)
        wait_for(lambda: notices(receiver, "job.completed"), timeout=10)
    # then the receiver verifies it with a verifier nobody here wrote
    (delivery,) = receiver.bodies()
    verified = Webhook(sub["secret"]).verify(delivery.body, delivery.headers)
    assert verified["type"] == "job.completed"
    data = verified["data"]
    assert (data["job_id"], data["job_type"], data["status"]) == (
        job.json()["job_id"],
        "big",
        "completed",
    )
    assert data["links"]["self"] == f"http://jobs.example.test/jobs/{data['job_id']}"
    assert data["links"]["download"].startswith("http://jobs.example.test/blobs/")
    assert "payload" not in data  # not asked for
    assert delivery.headers["webhook-id"] and delivery.headers["content-type"] == "application/json"
    # and a tampered body or an old timestamp does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(
            delivery.body.replace("completed", "failed"), delivery.headers
        )
    stale = {**delivery.headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(delivery.body, stale)
    # and the deliveries list says what happened
    listed = client.get(f"/notifications/subscriptions/{sub['id']}/deliveries", headers=me).json()
    assert [(d["type"], d["status"], d["response_code"]) for d in listed["deliveries"]] == [
        ("job.completed", "delivered", 204)
    ]


def test_a_receiver_down_then_up_gets_each_notice_once_more_with_the_same_id(
    services: Services, client: TestClient
) -> None:
    # given a subscription whose receiver is down (nothing listens on its port)
    down = Receiver().start()
    port = down.port
    down.stop()
    me = alice(client)
    subscribe(client, me, f"http://127.0.0.1:{port}/hook", event_types=["job.completed"])
    job_id = client.post("/jobs", json={"type": "echo", "payload": 1}, headers=me).json()["job_id"]
    with running_worker(services):
        wait_status(services, job_id, JobStatus.COMPLETED)
    sub_id = client.get("/notifications/subscriptions", headers=me).json()["subscriptions"][0]["id"]

    def failed_attempts() -> int:
        listed = client.get(f"/notifications/subscriptions/{sub_id}/deliveries", headers=me)
        return sum(d["attempts"] for d in listed.json()["deliveries"])

    wait_for(lambda: failed_attempts() >= 2, timeout=10)
    # when it comes back up on the same port
    up = Receiver(port=port).start()
    try:
        wait_for(lambda: notices(up, "job.completed"), timeout=10)
        time.sleep(1.0)  # later retries would show up here
        # then it got the notice once, under the id every attempt carried
        (got,) = up.bodies()
        assert json.loads(got.body)["data"]["job_id"] == job_id
        event_ids = {e.event_id for e in services.backend.jobs.events(job_id)}
        assert got.headers["webhook-id"] in event_ids
    finally:
        up.stop()


def test_410_disables_the_subscription_and_a_redirect_is_not_followed(
    services: Services, client: TestClient
) -> None:
    gone, elsewhere = Receiver(status=410).start(), Receiver().start()
    moved = Receiver(status=302, location=f"{elsewhere.url}/internal").start()
    try:
        me = alice(client)
        first = subscribe(client, me, f"{gone.url}/hook", event_types=["job.completed"])
        second = subscribe(client, me, f"{moved.url}/hook", event_types=["job.completed"])
        job_id = client.post("/jobs", json={"type": "echo"}, headers=me).json()["job_id"]
        with running_worker(services):
            wait_status(services, job_id, JobStatus.COMPLETED)

        def status_of(sub_id: str) -> str:
            return str(
                next(
                    s["status"]
                    for s in client.get("/notifications/subscriptions", headers=me).json()[
                        "subscriptions"
                    ]
                    if s["id"] == sub_id
                )
            )

        # a receiver answering 410 Gone ends disabled, after one attempt
        wait_for(lambda: status_of(first["id"]) == "disabled", timeout=10)
        assert len(gone.bodies()) == 1
        # a 3xx is a failed delivery; its Location is never fetched
        wait_for(lambda: len(moved.bodies()) >= 2, timeout=10)
        assert elsewhere.bodies() == []
        deliveries = client.get(
            f"/notifications/subscriptions/{second['id']}/deliveries", headers=me
        ).json()["deliveries"]
        assert deliveries[0]["response_code"] == 302 and deliveries[0]["last_error"] == "HTTP 302"
    finally:
        for r in (gone, elsewhere, moved):
            r.stop()


def test_a_rotated_secret_signs_beside_the_new_one_then_only_the_new(
    services: Services, client: TestClient, receiver: Receiver
) -> None:
    me = alice(client)
    sub = subscribe(client, me, f"{receiver.url}/hook", event_types=["job.queued"])
    rotated = client.post(f"/notifications/subscriptions/{sub['id']}/rotate-secret", headers=me)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != sub["secret"] and rotated.json()["previous_valid_until"]
    client.post("/jobs", json={"type": "echo"}, headers=me)
    wait_for(lambda: notices(receiver, "job.queued"), timeout=10)
    (got,) = receiver.bodies()
    # both secrets verify during the overlap: receivers switch without a gap
    assert Webhook(sub["secret"]).verify(got.body, got.headers)
    assert Webhook(new_secret).verify(got.body, got.headers)
    assert len(got.headers["webhook-signature"].split(" ")) == 2


def test_replay_sends_a_delivery_again_with_its_id(
    services: Services, client: TestClient, receiver: Receiver
) -> None:
    me = alice(client)
    sub = subscribe(client, me, f"{receiver.url}/hook", event_types=["job.queued"])
    client.post("/jobs", json={"type": "echo"}, headers=me)
    wait_for(lambda: len(receiver.bodies()) == 1, timeout=10)
    delivery = client.get(f"/notifications/subscriptions/{sub['id']}/deliveries", headers=me)
    delivery_id = delivery.json()["deliveries"][0]["id"]
    replayed = client.post(
        f"/notifications/subscriptions/{sub['id']}/deliveries/{delivery_id}/replay", headers=me
    )
    assert replayed.status_code == 202
    wait_for(lambda: len(receiver.bodies()) == 2, timeout=10)
    first, again = receiver.bodies()
    assert first.headers["webhook-id"] == again.headers["webhook-id"]


def test_a_slow_receiver_does_not_delay_jobs(services: Services, client: TestClient) -> None:
    """Deliveries run in the notifier's threads: jobs finish while a receiver hangs."""
    import socket

    hang = socket.socket()  # accepts connections, never answers
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    try:
        me = alice(client)
        subscribe(client, me, f"http://127.0.0.1:{hang.getsockname()[1]}/hook")
        started = time.monotonic()
        ids = [
            client.post("/jobs", json={"type": "echo", "payload": n}, headers=me).json()["job_id"]
            for n in range(20)
        ]
        with running_worker(services):
            for job_id in ids:
                wait_status(services, job_id, JobStatus.COMPLETED)
        assert time.monotonic() - started < 8  # the receiver's read timeout is 10 s
    finally:
        hang.close()


def test_subscriptions_are_per_owner(services: Services, client: TestClient) -> None:
    me = alice(client)
    bob = client.post("/users", json={"name": "B", "email": "b@example.com"}, headers=ADMIN)
    other = {"X-API-Key": bob.json()["api_key"]}
    sub = subscribe(client, me, "http://127.0.0.1:9/hook")
    # another owner's subscription is a 404, for every route
    assert client.get("/notifications/subscriptions", headers=other).json()["subscriptions"] == []
    for method, path in (
        ("DELETE", f"/notifications/subscriptions/{sub['id']}"),
        ("POST", f"/notifications/subscriptions/{sub['id']}/rotate-secret"),
        ("GET", f"/notifications/subscriptions/{sub['id']}/deliveries"),
    ):
        assert client.request(method, path, headers=other).status_code == 404
    # the seed's unsubscribe shape works for the owner, also under /api
    gone = client.request(
        "DELETE", "/api/notifications/unsubscribe", json={"id": sub["id"]}, headers=me
    )
    assert gone.status_code == 204
    assert client.get("/notifications/subscriptions", headers=me).json()["subscriptions"] == []
