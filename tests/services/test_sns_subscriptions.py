"""Email and SMS subscriptions where a topic delivers them (SNS on AWS): the filter policy each
gets, a pending confirmation reported until the recipient confirms, and nothing half-made when
the store refuses. The emulator confirms email subscriptions at once, so the pending path is
held here, with a recording topic in SNS's place (the subscriptions service is what is tested;
tests/aws/test_notifications.py runs the same service against moto's SNS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from jobgate.domain.addresses import Allowed
from jobgate.domain.notices import Channel, SubscriptionStatus, TopicMessage
from jobgate.services.notify import NotifySettings, SubscriptionService
from jobgate.testing.memory import memory_backend


class RecordingTopic:
    """SNS's subscription bookkeeping: subscriptions, their filter, pending until confirmed."""

    def __init__(self) -> None:
        self.subs: dict[str, tuple[str, str, Mapping[str, list[str]], bool]] = {}

    def publish(self, messages: Sequence[TopicMessage]) -> None:
        pass

    def subscribe(
        self, protocol: str, endpoint: str, filter_policy: Mapping[str, list[str]]
    ) -> tuple[str, bool]:
        arn = f"arn:aws:sns:us-east-1:1:topic:{len(self.subs)}"
        pending = protocol == "email"
        self.subs[arn] = (protocol, endpoint, filter_policy, pending)
        return arn, pending

    def pending(self, subscription_id: str) -> bool:
        return self.subs[subscription_id][3]

    def unsubscribe(self, subscription_id: str) -> None:
        del self.subs[subscription_id]


SETTINGS = NotifySettings(Allowed(), True, (0.0,), 86400.0, 60.0, "https://jobs.example.com")


def test_an_email_subscription_is_pending_until_confirmed_then_active() -> None:
    topic = RecordingTopic()
    service = SubscriptionService(replace(memory_backend(), topic=topic), SETTINGS)
    sub = service.subscribe("alice", Channel.EMAIL, "ops@example.com", ["job.failed"], ["x"])
    assert sub.status is SubscriptionStatus.PENDING_CONFIRMATION
    (arn,) = topic.subs
    assert topic.subs[arn][2] == {
        "event_type": ["job.failed"],
        "job_type": ["x"],
        "owner": ["alice"],
    }
    assert service.all("alice")[0].status is SubscriptionStatus.PENDING_CONFIRMATION
    protocol, endpoint, policy, _ = topic.subs[arn]
    topic.subs[arn] = (protocol, endpoint, policy, False)  # the recipient followed the link
    assert service.get("alice", sub.sub_id).status is SubscriptionStatus.ACTIVE
    service.delete("alice", sub.sub_id)
    assert topic.subs == {}


def test_sms_is_active_at_once_and_a_refused_store_leaves_no_sns_subscription() -> None:
    topic = RecordingTopic()
    backend = replace(memory_backend(), topic=topic)
    service = SubscriptionService(backend, SETTINGS)
    sms = service.subscribe("alice", Channel.SMS, "+14155550123")
    assert sms.status is SubscriptionStatus.ACTIVE and sms.external_id in topic.subs
    store = backend.subscriptions
    assert store is not None

    def refuse(*_: object) -> None:
        raise RuntimeError("the store is down")

    store.add_subscription = refuse  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError):
        service.subscribe("alice", Channel.EMAIL, "ops@example.com")
    assert [p for p, *_ in topic.subs.values()] == ["sms"]
