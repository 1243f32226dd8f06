"""Notifications: subscriptions, turning committed events into deliveries, and sending them.

    job history (committed with each transition)
      └─► Dispatcher: events after its cursor → one delivery per listening subscription
      │     local: deliveries and the cursor move in one SQLite transaction (none lost, none
      │     made twice); aws: the jobs table's stream, read after the cursor's positions,
      │     which are saved after the deliveries are written (a crash re-makes the same ids)
      ├─► Topic (aws): every notice published to SNS with its attributes; SNS itself delivers
      │     to email and SMS subscriptions (and any SQS/Lambda/HTTPS subscriber) by filter policy
      └─► Deliverer: due deliveries → webhook (signed) / email → delivered | retry | failed

Deliveries run apart from job execution (their own thread pool), so a slow or failing receiver
never delays or changes a job's outcome. A notice keeps its event's id through every retry, so
receivers drop duplicates by ``webhook-id``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from jobgate import tracing
from jobgate.domain import notices as n
from jobgate.domain.addresses import Allowed, literal, refusal
from jobgate.domain.ids import new_id
from jobgate.domain.models import Job, JobEvent
from jobgate.domain.notices import (
    Channel,
    DeliveryStatus,
    NoticeDelivery,
    NoticeType,
    Secret,
    Subscription,
    SubscriptionStatus,
)
from jobgate.errors import NotFound, ValidationFailed
from jobgate.logs import get_logger
from jobgate.metrics import JobMetrics
from jobgate.ports import Backend, DeliveryStore, SubscriptionStore
from jobgate.services.jobs import JobService

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CURSOR = "notifications"


@dataclass(frozen=True)
class NotifySettings:
    """The notification settings the services need (from :class:`~jobgate.settings.Settings`)."""

    allowed: Allowed
    require_https: bool
    retry_schedule: tuple[float, ...]
    disable_after_seconds: float
    rotation_overlap_seconds: float
    public_url: str | None


@dataclass(frozen=True)
class SendResult:
    """What a send came to: an HTTP status (webhooks), or an error before any answer."""

    ok: bool
    status: int | None = None
    error: str | None = None


class WebhookSender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: str) -> SendResult: ...


class MailSender(Protocol):
    def send(self, recipient: str, subject: str, text: str) -> SendResult: ...


def _stores(backend: Backend) -> tuple[SubscriptionStore, DeliveryStore]:
    if backend.subscriptions is None or backend.notices is None:
        raise NotImplementedError(f"the {backend.name} backend keeps no notifications yet")
    return backend.subscriptions, backend.notices


class Unsupported(ValidationFailed):
    """A notification channel this deployment cannot serve (SMS without SNS)."""


class SubscriptionService:
    """The subscriptions API's policy. Another owner's subscription is reported as missing."""

    def __init__(
        self, backend: Backend, settings: NotifySettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._b = backend
        self._settings = settings
        self._clock = clock

    @property
    def available(self) -> bool:
        return self._b.subscriptions is not None and self._b.notices is not None

    def subscribe(
        self,
        owner: str,
        channel: Channel,
        target: str,
        event_types: Sequence[str] | None = None,
        job_types: Sequence[str] | None = None,
        include_payload: bool = False,
    ) -> Subscription:
        """Validate and store a subscription; a webhook's gets its first secret."""
        subs, _ = _stores(self._b)
        types = self._event_types(event_types)
        target = self._target(channel, target)
        now = self._clock()
        subscription = Subscription(
            sub_id=new_id(now),
            owner=owner,
            channel=channel,
            target=target,
            event_types=types,
            job_types=None if job_types is None else frozenset(job_types),
            created_at=now,
            secrets=(Secret(n.new_secret()),) if channel is Channel.WEBHOOK else (),
            include_payload=include_payload,
        )
        topic = self._b.topic
        if channel is not Channel.WEBHOOK and topic is not None:
            # SNS delivers email and SMS itself, filtered to what the subscription asked for
            arn, pending = topic.subscribe(channel.value, target, n.filter_policy(subscription))
            status = SubscriptionStatus.PENDING_CONFIRMATION if pending else subscription.status
            subscription = replace(subscription, external_id=arn, status=status)
            try:
                subs.add_subscription(subscription)
            except Exception:
                topic.unsubscribe(arn)  # nothing half-made stays behind
                raise
            return subscription
        subs.add_subscription(subscription)
        return subscription

    @staticmethod
    def _event_types(names: Sequence[str] | None) -> frozenset[NoticeType]:
        if names is None:
            return n.DEFAULT_TYPES
        known = {t.value: t for t in NoticeType}
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValidationFailed(
                f"unknown event type(s) {', '.join(map(repr, unknown))}: use "
                + ", ".join(sorted(known))
            )
        if not names:
            raise ValidationFailed("event_types may not be empty: leave it out for all of them")
        return frozenset(known[name] for name in names)

    def _target(self, channel: Channel, target: str) -> str:
        if channel is Channel.WEBHOOK:
            return self.check_url(target)
        if channel is Channel.EMAIL:
            from jobgate.api.schemas import valid_email

            try:
                return valid_email(target)
            except ValueError as exc:
                raise ValidationFailed(str(exc)) from None
        if not E164.match(target):
            raise ValidationFailed("phone_number must be E.164: '+' and 7 to 15 digits")
        if self._b.topic is not None:
            return target
        raise Unsupported(
            "SMS notifications are sent by SNS: they need the aws backend with "
            "NOTIFICATIONS_TOPIC_ARN set; use a webhook or email here"
        )

    def check_url(self, url: str) -> str:
        """A webhook URL: http(s), a host, no credentials; https unless allowed otherwise; an
        address literal must be one a delivery may reach (names are checked at delivery)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - reading it is what checks the port
        except ValueError as exc:
            raise ValidationFailed(f"url is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationFailed("url must be an absolute http(s) URL with a host")
        if parts.scheme == "http" and self._settings.require_https:
            raise ValidationFailed(
                "url must use https (JOBGATE_WEBHOOK_REQUIRE_HTTPS=false allows http)"
            )
        if parts.username or parts.password:
            raise ValidationFailed("url may not carry credentials")
        host = parts.hostname
        ip = literal(host)
        allowed = self._settings.allowed
        if ip is not None and not allowed.host(host):
            why = refusal(ip, allowed)
            if why:
                raise ValidationFailed(f"url points at an address webhooks may not reach: {why}")
        return url

    def all(self, owner: str | None) -> list[Subscription]:
        subs, _ = _stores(self._b)
        return [self._confirmed(sub) for sub in subs.subscriptions(owner)]

    def get(self, owner: str | None, sub_id: str) -> Subscription:
        subs, _ = _stores(self._b)
        found = subs.get_subscription(sub_id)
        if found is None or (owner is not None and found.owner != owner):
            raise NotFound(f"no subscription {sub_id!r}")
        return self._confirmed(found)

    def _confirmed(self, sub: Subscription) -> Subscription:
        """An SNS subscription awaiting confirmation, as SNS sees it now (the recipient may
        have confirmed since)."""
        topic = self._b.topic
        if (
            sub.status is not SubscriptionStatus.PENDING_CONFIRMATION
            or sub.external_id is None
            or topic is None
            or topic.pending(sub.external_id)
        ):
            return sub
        active = replace(sub, status=SubscriptionStatus.ACTIVE)
        _stores(self._b)[0].save_subscription(active)
        return active

    def delete(self, owner: str | None, sub_id: str) -> None:
        subs, _ = _stores(self._b)
        found = self.get(owner, sub_id)
        if found.external_id is not None and self._b.topic is not None:
            with contextlib.suppress(NotFound):
                self._b.topic.unsubscribe(found.external_id)
        subs.delete_subscription(sub_id)

    def rotate_secret(self, owner: str | None, sub_id: str) -> Subscription:
        """A new secret; the old ones keep signing (beside it) for the overlap window."""
        subs, _ = _stores(self._b)
        sub = self.get(owner, sub_id)
        if sub.channel is not Channel.WEBHOOK:
            raise ValidationFailed("only webhook subscriptions have a signing secret")
        now = self._clock()
        until = now + self._settings.rotation_overlap_seconds
        kept = tuple(
            replace(s, expires_at=min(s.expires_at or until, until))
            for s in sub.secrets
            if s.expires_at is None or s.expires_at > now
        )
        rotated = replace(sub, secrets=(Secret(n.new_secret()), *kept))
        subs.save_subscription(rotated)
        return rotated

    def deliveries(self, owner: str | None, sub_id: str, limit: int = 50) -> list[NoticeDelivery]:
        _, store = _stores(self._b)
        self.get(owner, sub_id)
        return store.deliveries(sub_id, limit)

    def replay(self, owner: str | None, sub_id: str, delivery_id: str) -> NoticeDelivery:
        """Send a delivery again (as soon as a sender is free), whatever came of it before."""
        _, store = _stores(self._b)
        self.get(owner, sub_id)
        found = store.get_delivery(delivery_id)
        if found is None or found.sub_id != sub_id:
            raise NotFound(f"no delivery {delivery_id!r} for subscription {sub_id!r}")
        again = replace(
            found, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=self._clock()
        )
        store.save_delivery(again)
        return again


class Dispatcher:
    """Turns committed job events into deliveries, and publishes them to the backend's topic
    when it has one (crash-safe: see the module docstring; a crash between the publish and the
    cursor's move publishes the same event ids again)."""

    def __init__(
        self,
        backend: Backend,
        clock: Callable[[], float] = time.time,
        writer: NoticeWriter | None = None,
    ) -> None:
        self._subs, self._store = _stores(backend)
        self._jobs = backend.jobs
        self._topic = backend.topic
        self._writer = writer
        self._clock = clock
        self._store.start_cursor(CURSOR)
        self.idle = False  # True after a pass that found no new event

    def run_once(self, limit: int = 500) -> int:
        """Make the deliveries of up to ``limit`` new events; how many events were read."""

        def make(events: list[JobEvent]) -> list[NoticeDelivery]:
            if self._topic is not None and self._writer is not None:
                notices = [x for e in events if (x := n.topic_notice(e)) is not None]
                if notices:
                    # the jobs the notices link to, in one read (not one per notice)
                    jobs = self._jobs.get_many(list({x.job_id: None for x in notices}))
                    with tracing.span("jobgate.notify.publish", kind="producer",
                                      notices=len(notices)):  # fmt: skip
                        self._topic.publish(
                            [self._writer.message(x, jobs.get(x.job_id)) for x in notices]
                        )
            by_owner: dict[str, list[Subscription]] = defaultdict(list)
            for sub in self._subs.subscriptions():
                by_owner[sub.owner].append(sub)
            now = self._clock()
            every = by_owner[n.EVERY_OWNER]
            return [
                d for e in events for d in n.deliveries_for(e, [*by_owner[e.owner], *every], now)
            ]

        read = self._store.dispatch(CURSOR, make, limit)
        self.idle = read == 0
        return read


class NoticeWriter:
    """What a notice says: its ``data`` (with links and a fresh signed download URL), and the
    message published to a topic."""

    def __init__(self, jobs: JobService, settings: NotifySettings) -> None:
        self._jobs = jobs
        self._settings = settings

    def message(self, notice: NoticeDelivery, job: Job | None) -> n.TopicMessage:
        """The topic message of ``notice``; ``job``: its job as read now (None: gone)."""
        data = self.data(notice, job, include_payload=False)
        subject, text = email_text(notice, data)
        return n.TopicMessage(
            message_id=notice.event_id,
            body=n.body(notice.notice, notice.created_at, data),
            subject=subject,
            text=text,
            sms=subject,
            attributes=n.attributes(notice),
        )

    def data(
        self, delivery: NoticeDelivery, job: Job | None, include_payload: bool
    ) -> dict[str, Any]:
        """The notice's ``data``: the job as the event left it, and its links (a fresh signed
        download URL when ``job``, the job as read now, made a result blob or an artifact)."""
        data: dict[str, Any] = {
            "job_id": delivery.job_id,
            "job_type": delivery.job_type,
            "status": delivery.job_status,
            "attempt": delivery.attempt,
        }
        if delivery.notice is NoticeType.PROGRESS:
            data["progress"] = {
                "percent": delivery.detail.get("percent"),
                "note": delivery.detail.get("note", ""),
            }
        base = (self._settings.public_url or "").rstrip("/")
        links = {"self": f"{base}/jobs/{delivery.job_id}"}
        if job is not None:
            failure = delivery.notice in (NoticeType.FAILED, NoticeType.RETRY_SCHEDULED)
            if failure and job.error is not None:
                data["error"] = {"type": job.error.type, "message": job.error.message}
            if delivery.notice is NoticeType.COMPLETED:
                links.update(self._result_links(job, base))
            if include_payload and job.payload_ref is None:
                data["payload"] = job.payload
        data["links"] = links
        return data

    def _result_links(self, job: Job, base: str) -> dict[str, str]:
        links = {"result": f"{base}/jobs/{job.job_id}/result"}
        url = self._jobs.file_url(job)
        if url is not None:
            links["download"] = url if "://" in url else f"{base}{url}"
        return links


class Deliverer:
    """Sends due deliveries: signs webhooks, retries on the schedule, disables dead receivers."""

    def __init__(
        self,
        backend: Backend,
        jobs: JobService,
        settings: NotifySettings,
        webhooks: WebhookSender,
        mail: MailSender | None,
        clock: Callable[[], float] = time.time,
        metrics: JobMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._backend = backend
        self._subs, self._store = _stores(backend)
        self._writer = NoticeWriter(jobs, settings)
        self._settings = settings
        self._webhooks = webhooks
        self._mail = mail
        self._clock = clock
        self._log = get_logger(component="notifier")

    def due(self, limit: int, lease_seconds: float = 60.0) -> list[NoticeDelivery]:
        return self._store.claim_due(self._clock(), limit, lease_seconds)

    def deliver(self, delivery: NoticeDelivery) -> NoticeDelivery:
        """One attempt at ``delivery``; stores and returns what came of it. Never raises."""
        return self.deliver_many([delivery])[0]

    def deliver_many(
        self,
        deliveries: Sequence[NoticeDelivery],
        run: Callable[[Callable[[NoticeDelivery], NoticeDelivery], Sequence[NoticeDelivery]], Any]
        | None = None,
    ) -> list[NoticeDelivery]:
        """One attempt at each (``run`` maps the sends, e.g. onto a thread pool), then what came
        of them stored together (one transaction where the backend has them)."""
        # the jobs the deliveries link to, in one read (not one per delivery)
        jobs = self._backend.jobs.get_many(list({d.job_id: None for d in deliveries}))
        outcomes = list((run or map)(lambda d: self._attempt(d, jobs.get(d.job_id)), deliveries))
        with self._backend.atomic():
            for outcome in outcomes:
                self._store.save_delivery(outcome)
        return outcomes

    def _attempt(self, delivery: NoticeDelivery, job: Job | None) -> NoticeDelivery:
        sub = self._subs.get_subscription(delivery.sub_id)
        now = self._clock()
        if sub is None or sub.status is not SubscriptionStatus.ACTIVE:
            why = "subscription deleted" if sub is None else f"subscription {sub.status.value}"
            return replace(delivery, status=DeliveryStatus.FAILED, last_error=why)
        if job is not None and job.owner != delivery.owner:
            job = None  # (read by id: never link another owner's job)
        try:
            result = self._send(sub, delivery, job, now)
        except Exception as exc:  # a sender must never take the notifier down
            result = SendResult(False, error=f"{type(exc).__name__}: {exc}")
        outcome = self._record(sub, delivery, result, now)
        if self._metrics is not None:
            self._metrics.notice(sub.channel.value, result.ok)
        log = self._log.bind(delivery_id=delivery.delivery_id, owner=delivery.owner)
        log.info(
            "notice_sent" if result.ok else "notice_failed",
            channel=sub.channel.value,
            notice=delivery.notice.value,
            status=result.status,
            error=result.error,
            attempt=outcome.attempts,
            gave_up=outcome.status is DeliveryStatus.FAILED,  # alarmed on (Terraform 30_app)
        )
        return outcome

    def _send(
        self, sub: Subscription, delivery: NoticeDelivery, job: Job | None, now: float
    ) -> SendResult:
        data = self._writer.data(delivery, job, sub.include_payload)
        if sub.channel is Channel.WEBHOOK:
            text = n.body(delivery.notice, delivery.created_at, data)
            headers = n.signed_headers(sub.live_secrets(now), delivery.event_id, int(now), text)
            return self._webhooks.post(sub.target, headers, text)
        if sub.channel is Channel.EMAIL and self._mail is not None:
            subject, text = email_text(delivery, data)
            return self._mail.send(sub.target, subject, text)
        return SendResult(False, error=f"no sender for {sub.channel.value} here")

    def _record(
        self, sub: Subscription, delivery: NoticeDelivery, result: SendResult, now: float
    ) -> NoticeDelivery:
        attempts = delivery.attempts + 1
        if result.ok:
            if sub.failing_since is not None:
                self._subs.save_subscription(replace(sub, failing_since=None))
            return replace(
                delivery,
                status=DeliveryStatus.DELIVERED,
                attempts=attempts,
                response_code=result.status,
                last_error=None,
                delivered_at=now,
                next_attempt_at=None,
            )
        failing_since = sub.failing_since or now
        gone = result.status == 410
        if gone or now - failing_since >= self._settings.disable_after_seconds:
            reason = "the receiver answered 410 Gone" if gone else "failing for too long"
            self._subs.save_subscription(
                replace(sub, status=SubscriptionStatus.DISABLED, disabled_reason=reason)
            )
        elif sub.failing_since is None:
            self._subs.save_subscription(replace(sub, failing_since=now))
        retry = None if gone else n.retry_at(self._settings.retry_schedule, attempts, now)
        return replace(
            delivery,
            status=DeliveryStatus.PENDING if retry is not None else DeliveryStatus.FAILED,
            attempts=attempts,
            response_code=result.status,
            last_error=result.error,
            next_attempt_at=retry,
        )


def email_text(delivery: NoticeDelivery, data: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notice sent by email."""
    subject = f"jobgate: {delivery.job_type} job {delivery.job_id} {delivery.job_status}"
    lines = [
        f"Job {delivery.job_id} ({delivery.job_type}) is {delivery.job_status}.",
        f"Attempt: {delivery.attempt}",
    ]
    if "error" in data:
        lines.append(f"Error: {data['error']['type']}: {data['error']['message']}")
    for name, url in data["links"].items():
        lines.append(f"{name}: {url}")
    return subject, "\n".join(lines) + "\n"
