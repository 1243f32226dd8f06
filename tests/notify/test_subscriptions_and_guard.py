"""Subscriptions' bad input (each a 422 that writes nothing), the SSRF guard's corpus, and email
through a real SMTP server (aiosmtpd) or into the mail outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobgate import bootstrap
from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from jobgate.domain.addresses import Allowed, literal, refusal
from jobgate.domain.models import JobStatus
from jobgate.senders.webhook import HttpWebhookSender
from tests.api.conftest import ADMIN
from tests.apps import app as test_app
from tests.conftest import make_settings
from tests.notify.receiver import Receiver
from tests.support import running_worker, wait_for, wait_status

CORPUS = [
    "127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "0x7f000001",
    "2130706433", "017700000001", "0.0.0.0", "127.1", "100.64.0.1", "192.168.1.1", "[fe80::1]",
    "[fd00::1]", "224.0.0.1", "[::]", "[64:ff9b::a00:1]", "[2002:7f00:1::]",
]  # fmt: skip


def build(tmp_path: Path, **settings: Any) -> Services:
    return bootstrap.build(make_settings(tmp_path / "data", **settings), test_app)


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[TestClient]:
    """Production defaults: https only, nothing private allowed."""
    services = build(tmp_path)
    with TestClient(create_app(services)) as client:
        yield client
    services.close()


def user(client: TestClient) -> dict[str, str]:
    made = client.post("/users", json={"name": "C", "email": "c@example.com"}, headers=ADMIN)
    return {"X-API-Key": made.json()["api_key"]}


@pytest.mark.parametrize("host", CORPUS)
def test_every_internal_address_is_refused_at_subscribe(strict: TestClient, host: str) -> None:
    me = user(strict)
    answer = strict.post(
        "/notifications/subscribe/webhook", json={"url": f"https://{host}/hook"}, headers=me
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert strict.get("/notifications/subscriptions", headers=me).json()["subscriptions"] == []


@pytest.mark.parametrize("host", CORPUS)
def test_every_internal_address_is_refused_at_delivery(host: str) -> None:
    ip = literal(host)
    assert ip is not None and refusal(ip) is not None, host
    sender = HttpWebhookSender(Allowed(), connect_timeout=1, read_timeout=1)
    result = sender.post(f"http://{host}/hook", {}, "{}")
    assert not result.ok and result.status is None and "refused" in (result.error or "")


def test_a_name_that_resolves_to_a_private_address_is_refused_after_resolution() -> None:
    receiver = Receiver().start()  # listening: only the guard stands between us
    try:
        sender = HttpWebhookSender(Allowed(), connect_timeout=1, read_timeout=1)
        result = sender.post(f"http://localhost:{receiver.port}/hook", {}, "{}")
        assert not result.ok and "refused" in (result.error or "")
        assert receiver.bodies() == []
        # a name that resolved outward at subscribe time and inward later (rebinding) is
        # caught too: every delivery resolves again and checks what it will connect to
        answers = iter([["93.184.216.34"], ["127.0.0.1"]])
        rebinding = HttpWebhookSender(
            Allowed(), connect_timeout=1, read_timeout=1, resolver=lambda h, p: next(answers)
        )
        assert not isinstance(rebinding.addresses("hooks.example.test", 80), str)
        assert "refused" in str(rebinding.addresses("hooks.example.test", 80))
        # and the allowed list opens the guard for exactly what it names
        opened = HttpWebhookSender(
            Allowed.parse(["127.0.0.1/32"]), connect_timeout=1, read_timeout=1
        )
        assert opened.post(f"http://localhost:{receiver.port}/hook", {}, "{}").ok
    finally:
        receiver.stop()


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("webhook", {"url": "not a url"}, "url"),
    ("webhook", {"url": "ftp://hooks.example.com/x"}, "http"),
    ("webhook", {"url": "http://hooks.example.com/x"}, "https"),
    ("webhook", {"url": "https://user:pw@hooks.example.com/x"}, "credentials"),
    ("webhook", {"url": "https://hooks.example.com/x", "event_types": ["job.exploded"]}, "job.exploded"),
    ("webhook", {"url": "https://hooks.example.com/x", "event_types": []}, "empty"),
    ("webhook", {"url": "https://hooks.example.com/x", "colour": "red"}, "colour"),
    ("webhook", {}, "url"),
    ("email", {"email": "not-an-address"}, "email"),
    ("sms", {"phone_number": "555-0100"}, "E.164"),
    ("sms", {"phone_number": "+14155550100"}, "aws backend"),  # SMS needs SNS
]  # fmt: skip


@pytest.mark.parametrize(("channel", "body", "said"), BAD_INPUTS)
def test_bad_input_is_a_422_naming_the_problem_and_writes_nothing(
    strict: TestClient, channel: str, body: dict[str, Any], said: str
) -> None:
    me = user(strict)
    answer = strict.post(f"/notifications/subscribe/{channel}", json=body, headers=me)
    assert answer.status_code == 422, answer.text
    assert said in answer.text
    assert strict.get("/notifications/subscriptions", headers=me).json()["subscriptions"] == []


def test_other_bad_requests(strict: TestClient) -> None:
    me = user(strict)
    assert strict.get("/notifications/subscriptions").status_code == 401
    assert strict.delete("/notifications/subscriptions/nope", headers=me).status_code == 404
    bad_json = strict.post(
        "/notifications/subscribe/webhook",
        content=b"{not json",
        headers={**me, "content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    gone = strict.request("DELETE", "/notifications/unsubscribe", json={}, headers=me)
    assert gone.status_code == 422


def test_email_arrives_through_a_real_smtp_server_with_the_jobs_link(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Keep(Sink):
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], str]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode())
            )
            return "250 OK"

    from tests.processes import free_port

    handler = Keep()
    port = free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    services = build(
        tmp_path,
        smtp_url=f"smtp://127.0.0.1:{port}",
        mail_from="jobs@example.com",
        public_url="https://jobs.example.com",
        notify_poll_seconds=0.02,
    )
    notifier = services.notifier()
    assert notifier is not None
    notifier.start()
    try:
        with TestClient(create_app(services)) as client:
            me = user(client)
            answer = client.post(
                "/notifications/subscribe/email",
                json={"email": "Dev@Example.com", "event_types": ["job.completed"]},
                headers=me,
            )
            assert answer.status_code == 201 and answer.json()["email"] == "Dev@example.com"
            job_id = client.post("/jobs", json={"type": "echo"}, headers=me).json()["job_id"]
            with running_worker(services):
                wait_status(services, job_id, JobStatus.COMPLETED)
            wait_for(lambda: handler.messages, timeout=10)
        (sender, recipients, content), *_ = handler.messages
        assert sender == "jobs@example.com" and recipients == ["Dev@example.com"]
        assert f"https://jobs.example.com/jobs/{job_id}" in content
        assert "completed" in content
    finally:
        notifier.stop()
        services.close()
        smtp.stop()


def test_without_smtp_email_is_kept_in_the_outbox(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.processes import ROOT, environment

    services = build(tmp_path, notify_poll_seconds=0.02)
    notifier = services.notifier()
    assert notifier is not None
    notifier.start()
    try:
        with TestClient(create_app(services)) as client:
            me = user(client)
            client.post(
                "/notifications/subscribe/email",
                json={"email": "ops@example.com", "event_types": ["job.queued"]},
                headers=me,
            )
            client.post("/jobs", json={"type": "echo"}, headers=me)
            wait_for(lambda: services.backend.mail_outbox.read(), timeout=10)  # type: ignore[union-attr]
    finally:
        notifier.stop()
        services.close()
    shown = subprocess.run(
        [sys.executable, "-m", "jobgate.cli.main", "outbox"],
        env=environment(tmp_path / "data"), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    (mail,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert mail["to"] == "ops@example.com" and "queued" in mail["subject"]
