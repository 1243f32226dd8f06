"""Request and response bodies. Requests forbid unknown fields (no mass assignment)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    model_validator,
)

from jobgate.domain.models import Job, JobEvent, JobStatus, User, compact_json
from jobgate.domain.notices import NoticeDelivery, Subscription

_TYPE_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"


def valid_email(value: str) -> str:
    """The address, normalised, or ValueError. email-validator is imported on first use: it
    builds its grammar at import, about 25 ms of every API cold start (pydantic's EmailStr
    imports it when the model is defined)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


Email = Annotated[
    str,
    Field(max_length=254),
    AfterValidator(valid_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]


_second: tuple[int, str] = (-1, "")  # the last whole second rendered, and its text


def iso(t: float | None) -> str | None:
    """Epoch seconds as RFC 3339 in UTC to the millisecond (``2026-11-30T08:35:10.123Z``):
    what ``datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")`` writes, with
    the same rounding (to the microsecond, half to even, then cut), but each second's text
    made once: every job answer renders two or three times."""
    global _second
    if t is None:
        return None
    if t < 0:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    fraction, whole = math.modf(t)
    seconds, micros = int(whole), round(fraction * 1_000_000)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    last = _second
    if last[0] != seconds:
        last = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{last[1]}.{micros // 1000:03d}Z"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class SubmitJob(_Strict):
    """``POST /jobs``."""

    type: str = Field(pattern=_TYPE_PATTERN, description="A registered job type.")
    payload: JsonValue = Field(None, description="Any JSON value; handed to the handler.")
    max_attempts: int | None = Field(None, ge=1, le=100, description="Override the type's.")
    delay_seconds: int = Field(0, ge=0, le=900, description="Start no sooner than this.")


class SeedSubmit(_Strict):
    """``POST /submit`` (seed 002): ``{"task": …, "data": …}``."""

    task: str = Field(pattern=_TYPE_PATTERN)
    data: JsonValue = None


class ProgressOut(BaseModel):
    pct: float
    note: str


class ErrorOut(BaseModel):
    type: str
    message: str
    retryable: bool


class ArtifactOut(BaseModel):
    name: str
    size: int
    sha256: str
    content_type: str


class JobOut(BaseModel):
    job_id: str
    type: str
    status: JobStatus
    owner: str
    attempt: int
    max_attempts: int
    progress: ProgressOut
    error: ErrorOut | None
    cancel_requested: bool
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    run_after: str | None
    result: JsonValue = Field(None, description="Present when completed and stored inline.")
    result_stored: bool = Field(False, description="True when the result is a stored blob.")
    artifacts: list[ArtifactOut]
    links: dict[str, str]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        """Built with ``model_construct``: every field comes from a stored, typed record, so
        validating it again would only cost time on the hottest responses."""
        links = _links(job)
        return cls.model_construct(
            job_id=job.job_id,
            type=job.type,
            status=job.status,
            owner=job.owner,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            progress=ProgressOut.model_construct(pct=job.progress.pct, note=job.progress.note),
            error=_error(job),
            cancel_requested=job.cancel_requested,
            created_at=iso(job.created_at) or "",
            updated_at=iso(job.updated_at) or "",
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            run_after=iso(job.run_after),
            result=job.result if job.status is JobStatus.COMPLETED else None,
            result_stored=job.result_ref is not None,
            artifacts=[
                ArtifactOut.model_construct(
                    name=a.key.rsplit("/", 1)[-1],
                    size=a.size,
                    sha256=a.sha256,
                    content_type=a.content_type,
                )
                for a in job.artifacts
            ],
            links=links,
        )


def _links(job: Job) -> dict[str, str]:
    base = f"/jobs/{job.job_id}"
    links = {"self": base, "events": f"{base}/events"}
    if job.status is JobStatus.COMPLETED:
        links["result"] = f"{base}/result"
        if job.artifacts or job.result_ref:
            links["download_url"] = f"{base}/download-url"
    return links


def job_json(job: Job) -> str:
    """``JobOut.of(job).model_dump_json()``, written without building the model: a submit's
    ``202`` and a status read are the hottest answers, and the two constructions cost more
    than the rest of the response. Same keys, order and values as the model's JSON
    (``tests/api/test_job_json.py`` holds them equal); ``JobOut`` stays the documented shape."""
    created = iso(job.created_at) or ""
    error = job.error
    completed = job.status is JobStatus.COMPLETED
    return compact_json(
        {
            "job_id": job.job_id,
            "type": job.type,
            "status": job.status.value,
            "owner": job.owner,
            "attempt": job.attempt,
            "max_attempts": job.max_attempts,
            "progress": {"pct": float(job.progress.pct), "note": job.progress.note},
            "error": None
            if error is None
            else {"type": error.type, "message": error.message, "retryable": error.retryable},
            "cancel_requested": job.cancel_requested,
            "created_at": created,
            "updated_at": created if job.updated_at == job.created_at else iso(job.updated_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
            "run_after": iso(job.run_after),
            "result": job.result if completed else None,
            "result_stored": job.result_ref is not None,
            "artifacts": [
                {
                    "name": a.key.rsplit("/", 1)[-1],
                    "size": a.size,
                    "sha256": a.sha256,
                    "content_type": a.content_type,
                }
                for a in job.artifacts
            ],
            "links": _links(job),
        }
    )


def _error(job: Job) -> ErrorOut | None:
    if job.error is None:
        return None
    error = job.error
    return ErrorOut.model_construct(
        type=error.type, message=error.message, retryable=error.retryable
    )


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class SeedSubmitted(BaseModel):
    jobId: str  # noqa: N815 - the seed's field names
    status: JobStatus
    statusUrl: str  # noqa: N815


class SeedStatus(BaseModel):
    jobId: str  # noqa: N815
    status: JobStatus
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
    result: JsonValue = None
    error: str | None = None

    @classmethod
    def of(cls, job: Job) -> SeedStatus:
        return cls(
            jobId=job.job_id,
            status=job.status,
            createdAt=iso(job.created_at) or "",
            updatedAt=iso(job.updated_at) or "",
            result=job.result if job.status is JobStatus.COMPLETED else None,
            error=job.error.message if job.error else None,
        )


class EventOut(BaseModel):
    at: str
    kind: str
    status: JobStatus
    attempt: int
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: JobEvent) -> EventOut:
        return cls(
            at=iso(event.at) or "",
            kind=event.kind,
            status=event.status,
            attempt=event.attempt,
            detail=event.detail,
        )


class EventPage(BaseModel):
    job_id: str
    events: list[EventOut]


class ResultOut(BaseModel):
    job_id: str
    result: JsonValue


class DownloadUrl(BaseModel):
    url: str
    expires_in: int


class CreateUser(_Strict):
    """``POST /users`` (seed 000's fields; ``user_id`` is generated when omitted)."""

    user_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    email: Email


class UpdateUser(_Strict):
    """``PATCH /users/{user_id}``: what to change (at least one field)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    email: Email | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateUser:
        if self.name is None and self.email is None:
            raise ValueError("send name and/or email to change")
        return self


class UserOut(BaseModel):
    user_id: str
    name: str
    email: str
    created_at: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            name=user.name,
            email=user.email,
            created_at=iso(user.created_at) or "",
        )


class UserCreated(UserOut):
    api_key: str = Field(description="Shown once; store it now. Only its hash is kept.")
    key_id: str


class UserPage(BaseModel):
    users: list[UserOut]
    next_cursor: str | None


class KeyOut(BaseModel):
    key_id: str
    created_at: str
    revoked_at: str | None


class KeyCreated(BaseModel):
    key_id: str
    api_key: str


class QueueStatus(BaseModel):
    depth: int = Field(description="Messages ready to be received.")
    in_flight: int = Field(description="Received and not yet acked.")
    delayed: int = Field(description="Sent with a delay, not yet visible.")
    dlq_depth: int
    oldest_age_seconds: float


class ScheduleOut(BaseModel):
    name: str
    expression: str
    job_type: str
    last_tick: str | None
    next_tick: str | None
    missed: int


# -- notifications -------------------------------------------------------------------------------

_NOTICE_TYPES = (
    "job.queued, job.started, job.retry_scheduled, job.completed, job.failed, "
    "job.cancelled, job.progress"
)


class _Subscribe(_Strict):
    event_types: list[str] | None = Field(
        None,
        max_length=10,
        description=f"Notices to hear (default: all but progress): {_NOTICE_TYPES}.",
    )
    job_types: list[str] | None = Field(
        None, max_length=100, description="Only these job types (default: every type)."
    )
    include_payload: bool = Field(False, description="Put the job's payload in each notice.")


class SubscribeWebhook(_Subscribe):
    """``POST /notifications/subscribe/webhook``."""

    url: str = Field(max_length=2048, description="https URL that receives signed POSTs.")


class SubscribeEmail(_Subscribe):
    """``POST /notifications/subscribe/email``."""

    email: str = Field(max_length=320)


class SubscribeSms(_Subscribe):
    """``POST /notifications/subscribe/sms``."""

    phone_number: str = Field(max_length=16, description="E.164, e.g. +14155550100.")


class Unsubscribe(_Strict):
    """``DELETE /notifications/unsubscribe`` (seed 003 shape)."""

    id: str = Field(max_length=64)


class SubscriptionOut(BaseModel):
    id: str
    channel: str
    url: str | None = None
    email: str | None = None
    phone_number: str | None = None
    event_types: list[str]
    job_types: list[str] | None
    include_payload: bool
    status: str
    created_at: str
    disabled_reason: str | None = None

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        target = {"webhook": "url", "email": "email", "sms": "phone_number"}[sub.channel.value]
        return cls(
            id=sub.sub_id,
            channel=sub.channel.value,
            event_types=sorted(sub.event_types),
            job_types=None if sub.job_types is None else sorted(sub.job_types),
            include_payload=sub.include_payload,
            status=sub.status.value,
            created_at=iso(sub.created_at) or "",
            disabled_reason=sub.disabled_reason,
            **{target: sub.target},
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        None, description="Webhooks: the whsec_ signing secret. Shown this once."
    )


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret, shown this once.")
    previous_valid_until: str | None = Field(
        description="Until then, notices carry a signature by the previous secret too."
    )


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    type: str
    job_id: str
    status: str
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None

    @classmethod
    def of(cls, d: NoticeDelivery) -> DeliveryOut:
        return cls(
            id=d.delivery_id, event_id=d.event_id, type=d.notice.value, job_id=d.job_id,
            status=d.status.value, attempts=d.attempts, response_code=d.response_code,
            last_error=d.last_error,
            next_attempt_at=iso(d.next_attempt_at) if d.status.value == "pending" else None,
            created_at=iso(d.created_at) or "", delivered_at=iso(d.delivered_at),
        )  # fmt: skip


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


MAX_BATCH = 25


class BatchJob(SubmitJob):
    """One job of ``POST /jobs/batch``: ``POST /jobs``'s body, and its ``Idempotency-Key``."""

    idempotency_key: str | None = Field(
        None, min_length=1, max_length=255, description="As POST /jobs' Idempotency-Key header."
    )


class SubmitBatch(_Strict):
    """``POST /jobs/batch``: up to 25 jobs, each validated and answered on its own."""

    jobs: list[JsonValue] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Each a BatchJob (POST /jobs' body, plus an optional idempotency_key).",
    )

    @classmethod
    def documented(cls) -> dict[str, Any]:
        """The body's OpenAPI schema: each entry a BatchJob (validated one by one, so one bad
        job does not fail its neighbours; the parsing model takes any JSON per entry)."""
        schema = cls.model_json_schema()
        schema["properties"]["jobs"]["items"] = BatchJob.model_json_schema()
        return schema


class BatchItemOut(BaseModel):
    """What one job of a batch got: ``status`` is what ``POST /jobs`` would have answered it
    (202, with ``replayed`` for an idempotent repeat) with its ``job``, or a 4xx/5xx with its
    ``problem`` (RFC 9457 body)."""

    index: int
    status: int
    replayed: bool = False
    job: JobOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(BaseModel):
    accepted: int = Field(description="Jobs recorded and queued (new or replayed).")
    results: list[BatchItemOut] = Field(description="One per submitted job, in order.")
