"""Notices: what subscribers hear about a job, who hears it, and how a webhook is signed.
Pure: no I/O (a secret's randomness aside).

A notice is a job event seen from outside, in the Standard Webhooks shape::

    {"type": "job.completed", "timestamp": "2026-11-30T01:02:03.456Z",
     "data": {"job_id", "job_type", "status", "attempt", "error"?, "links": {...}}}

Its id is the event's id, so every copy of one notice (a retry, a redelivery after a crash)
carries the same ``webhook-id`` and receivers can drop duplicates.

Signing (https://www.standardwebhooks.com): the secret is ``whsec_`` + base64 of 32 random
bytes; ``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))
— one per live secret, space-separated, while a rotated secret is still honoured.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from jobgate.domain.models import EventKind, JobEvent


class NoticeType(enum.StrEnum):
    QUEUED = "job.queued"
    STARTED = "job.started"
    RETRY_SCHEDULED = "job.retry_scheduled"
    COMPLETED = "job.completed"
    FAILED = "job.failed"
    CANCELLED = "job.cancelled"
    PROGRESS = "job.progress"  # throttled; only for subscriptions that name it


#: the owner of the admin's subscriptions: they hear every owner's jobs
EVERY_OWNER = "*"

#: the notices a subscription hears when it names none (progress must be asked for)
DEFAULT_TYPES = frozenset(NoticeType) - {NoticeType.PROGRESS}

_BY_KIND = {
    EventKind.SUBMITTED: NoticeType.QUEUED,
    EventKind.REDRIVEN: NoticeType.QUEUED,
    EventKind.CLAIMED: NoticeType.STARTED,
    EventKind.RETRY_SCHEDULED: NoticeType.RETRY_SCHEDULED,
    EventKind.COMPLETED: NoticeType.COMPLETED,
    EventKind.FAILED: NoticeType.FAILED,
    EventKind.CANCELLED: NoticeType.CANCELLED,
    EventKind.PROGRESS: NoticeType.PROGRESS,
}


def notice_type(kind: EventKind) -> NoticeType | None:
    """The notice an event makes, or None for bookkeeping events (resent, released, …)."""
    return _BY_KIND.get(kind)


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    PENDING_CONFIRMATION = "pending_confirmation"  # an SNS email subscription not yet confirmed
    DISABLED = "disabled"  # 410 Gone, or failing for days


@dataclass(frozen=True, slots=True)
class Secret:
    """A webhook signing secret; ``expires_at`` is set once a newer one replaced it."""

    value: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    sub_id: str
    owner: str
    channel: Channel
    target: str  # a URL, an email address or an E.164 phone number
    event_types: frozenset[NoticeType]
    job_types: frozenset[str] | None  # None: every job type
    created_at: float
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    secrets: tuple[Secret, ...] = ()
    include_payload: bool = False
    failing_since: float | None = None
    disabled_reason: str | None = None
    external_id: str | None = None  # the SNS subscription's ARN, for email and SMS on AWS

    def hears(self, notice: NoticeType, job_type: str) -> bool:
        return (
            self.status is SubscriptionStatus.ACTIVE
            and notice in self.event_types
            and (self.job_types is None or job_type in self.job_types)
        )

    def live_secrets(self, now: float) -> tuple[str, ...]:
        return tuple(s.value for s in self.secrets if s.expires_at is None or s.expires_at > now)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # to be attempted at ``next_attempt_at``
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed, or the subscription was disabled


@dataclass(frozen=True, slots=True)
class NoticeDelivery:
    """One notice for one subscription, and how its sending went."""

    delivery_id: str  # "<event id>.<subscription id>": a notice is queued once per subscriber
    sub_id: str
    owner: str
    event_id: str
    notice: NoticeType
    job_id: str
    job_type: str
    job_status: str  # the job's status right after the event
    attempt: int
    created_at: float
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: float | None = None
    response_code: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # the event's details


def delivery_id(event_id: str, sub_id: str) -> str:
    return f"{event_id}.{sub_id}"


def deliveries_for(
    event: JobEvent, subscriptions: Sequence[Subscription], now: float
) -> list[NoticeDelivery]:
    """The deliveries one event makes: one per subscription of its owner that hears it."""
    notice = topic_notice(event)
    if notice is None:
        return []
    return [
        replace(
            notice,
            delivery_id=delivery_id(event.event_id, sub.sub_id),
            sub_id=sub.sub_id,
            created_at=now,
            next_attempt_at=now,
            detail=dict(event.detail),  # each delivery its own copy
        )
        for sub in subscriptions
        if sub.owner in (event.owner, EVERY_OWNER)
        and sub.hears(notice.notice, event.job_type)
        and sub.external_id is None  # SNS itself delivers to its own subscriptions
    ]


def topic_notice(event: JobEvent) -> NoticeDelivery | None:
    """An event as a notice of nobody in particular (what is published to the topic, and what
    each subscriber's delivery is made from), or None when it makes no notice."""
    notice = notice_type(event.kind)
    if notice is None:
        return None
    return NoticeDelivery(
        delivery_id=event.event_id,
        sub_id="",
        owner=event.owner,
        event_id=event.event_id,
        notice=notice,
        job_id=event.job_id,
        job_type=event.job_type,
        job_status=event.status.value,
        attempt=event.attempt,
        created_at=event.at,
        detail=dict(event.detail),
    )


def filter_policy(sub: Subscription) -> dict[str, list[str]]:
    """The SNS filter policy that lets an SNS-delivered subscription (email, SMS on AWS) hear
    exactly what it asked for: its owner's jobs (the admin's: everyone's), its notice types,
    its job types. Matched against :func:`attributes` of each published notice."""
    policy = {"event_type": sorted(t.value for t in sub.event_types)}
    if sub.owner != EVERY_OWNER:
        policy["owner"] = [sub.owner]
    if sub.job_types is not None:
        policy["job_type"] = sorted(sub.job_types)
    return policy


def attributes(notice: NoticeDelivery) -> dict[str, str]:
    """The message attributes a published notice carries (what filter policies match on)."""
    return {
        "event_type": notice.notice.value,
        "job_type": notice.job_type,
        "owner": notice.owner,
        "status": notice.job_status,
        "event_id": notice.event_id,
    }


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """One notice as published to a topic (SNS): the Standard Webhooks body for machines
    (SQS, Lambda, HTTP subscribers), a text for email and a short one for SMS."""

    message_id: str  # the event's id: every copy of one notice carries it
    body: str
    subject: str
    text: str
    sms: str
    attributes: dict[str, str]


def retry_at(schedule: Sequence[float], attempts: int, now: float) -> float | None:
    """When to try again after ``attempts`` failed attempts; None once the schedule is spent.
    ``schedule[n]`` is the wait before attempt n + 1 (the first is usually 0: at once)."""
    return now + schedule[attempts] if attempts < len(schedule) else None


# -- the body and its signature ------------------------------------------------------------------


def timestamp_text(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def body(notice: NoticeType, at: float, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload, as the exact text that is signed and sent."""
    return json.dumps(
        {"type": notice.value, "timestamp": timestamp_text(at), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, msg_id: str, timestamp: int, text: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{text}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    live_secrets: Sequence[str], msg_id: str, timestamp: int, text: str
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one per live secret)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, text) for s in live_secrets),
    }
