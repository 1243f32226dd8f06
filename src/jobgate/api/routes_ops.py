"""The admin's operations over HTTP (what ``jobgate dlq`` does, for the dashboard and scripts):
the dead-letter queue, redrive and purge, and the last hour's activity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from jobgate.api.body import check_media_type, parse_model
from jobgate.api.deps import PROBLEM_RESPONSES, Runner, body_schema, credentials
from jobgate.api.schemas import ErrorOut, _Strict, iso
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus

Key = Annotated[str | None, Depends(credentials)]


async def optional_json_body(request: Request) -> bytes:
    """A JSON body that may be left out (then ``{}``)."""
    raw = await request.body()
    if not raw:
        return b"{}"
    check_media_type(request.headers.get("content-type"))
    return raw


Body = Annotated[bytes, Depends(optional_json_body)]
_ACTIVITY_SCAN = 5000  # jobs read at most for the activity chart


class DeadLetterOut(BaseModel):
    message_id: str
    receive_count: int
    job_id: str | None
    job_type: str | None
    status: str | None
    error: ErrorOut | None


class DeadLetters(BaseModel):
    messages: list[DeadLetterOut]


class Redrive(_Strict):
    """``POST /admin/dlq/redrive``: which messages (all when left out)."""

    message_ids: list[str] | None = Field(None, max_length=1000)


class Moved(BaseModel):
    count: int


class Minute(BaseModel):
    at: str
    completed: int
    failed: int


class Activity(BaseModel):
    minutes: list[Minute]
    completed: int
    failed: int
    scanned: int = Field(description="Jobs read to make this (newest first, capped).")


def build_router(services: Services, runner: Runner) -> APIRouter:
    router = APIRouter(tags=["admin"], responses=PROBLEM_RESPONSES)
    dead = services.dead_letters
    admin = services.users.authenticate_admin

    @router.get("/admin/dlq", response_model=DeadLetters, summary="Dead-lettered messages")
    @runner.reads
    def dlq(key: Key, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DeadLetters:
        """The dead-letter queue, oldest first, with each message's job."""
        admin(key)
        out = []
        for delivery, job in dead.entries(limit):
            error = None
            if job is not None and job.error is not None:
                error = ErrorOut(type=job.error.type, message=job.error.message,
                                 retryable=job.error.retryable)  # fmt: skip
            out.append(
                DeadLetterOut(
                    message_id=delivery.message_id,
                    receive_count=delivery.receive_count,
                    job_id=job.job_id if job else None,
                    job_type=job.type if job else None,
                    status=job.status.value if job else None,
                    error=error,
                )
            )
        return DeadLetters(messages=out)

    @router.post(
        "/admin/dlq/redrive",
        response_model=Moved,
        openapi_extra=body_schema(Redrive),
        summary="Send dead-lettered jobs back to the queue",
    )
    @runner.writes
    def redrive(key: Key, raw: Body) -> Moved:
        """Each chosen message goes back to the queue; its failed job gets a fresh attempt
        budget (recorded as a ``redriven`` event)."""
        admin(key)
        body = parse_model(Redrive, raw)
        return Moved(count=dead.redrive(body.message_ids))

    @router.post("/admin/dlq/purge", response_model=Moved, summary="Empty the dead-letter queue")
    @runner.writes
    def purge(key: Key) -> Moved:
        """Delete every dead-lettered message (the failed jobs stay failed)."""
        admin(key)
        return Moved(count=dead.purge())

    @router.get("/admin/activity", response_model=Activity, summary="The last hour, by minute")
    @runner.reads
    def activity(key: Key, minutes: Annotated[int, Query(ge=5, le=180)] = 60) -> Activity:
        """Jobs completed and failed per minute (for the dashboard's chart)."""
        admin(key)
        return _activity(services, minutes)

    return router


def _activity(services: Services, minutes: int) -> Activity:
    now = services.clock()
    start = (int(now // 60) - minutes + 1) * 60
    buckets: dict[int, dict[str, int]] = {
        start + 60 * n: {"completed": 0, "failed": 0} for n in range(minutes)
    }
    # Newest jobs first; one created long enough before the window cannot have finished in it
    # unless it ran for hours, so the scan stops an hour before the window (and at a cap).
    oldest_creation = start - 3600
    scanned, cursor = 0, None
    while scanned < _ACTIVITY_SCAN:
        page = services.backend.jobs.list_jobs(None, cursor=cursor, limit=200)
        for job in page.items:
            scanned += 1
            finished = job.finished_at
            kind = {JobStatus.COMPLETED: "completed", JobStatus.FAILED: "failed"}.get(job.status)
            if kind and finished is not None and finished >= start:
                bucket = int(finished // 60) * 60
                if bucket in buckets:
                    buckets[bucket][kind] += 1
        if page.cursor is None or (page.items and page.items[-1].created_at < oldest_creation):
            break
        cursor = page.cursor
    rows = [Minute(at=iso(at) or "", **counts) for at, counts in sorted(buckets.items())]
    return Activity(
        minutes=rows,
        completed=sum(r.completed for r in rows),
        failed=sum(r.failed for r in rows),
        scanned=scanned,
    )
