"""Live status without polling by the client: ``GET /jobs/{id}?wait=N`` and the SSE stream.

Both watch the ledger from the server side (a read every ``INTERVAL``, off the event loop where
the backend is a network one), so they work the same on every backend and every runtime, and a
change is seen within one interval.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from jobgate.api.deps import Runner
from jobgate.api.schemas import iso
from jobgate.domain.models import Job, JobEvent
from jobgate.domain.notices import NoticeType, notice_type

INTERVAL = 0.1  # seconds between looks at the ledger
KEEPALIVE = 15.0  # an SSE comment this often, so proxies keep an idle stream open


async def status_change(read: Callable[[], Job], first: Job, seconds: float, runner: Runner) -> Job:
    """The job as soon as its status differs from ``first``'s, or after ``seconds``."""
    if first.terminal:
        return first
    deadline = time.monotonic() + seconds
    job = first
    while time.monotonic() < deadline:
        await asyncio.sleep(min(INTERVAL, max(0.0, deadline - time.monotonic())))
        job = await runner.read(read)
        if job.status is not first.status:
            return job
    return job


def _message(event_id: str, name: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _event_message(event: JobEvent) -> str | None:
    notice = notice_type(event.kind)
    if notice is None or notice is NoticeType.PROGRESS:
        return None  # the stream sends every progress change itself, finer than the history
    return _message(
        event.event_id,
        notice.value,
        {
            "job_id": event.job_id,
            "kind": event.kind.value,
            "status": event.status.value,
            "attempt": event.attempt,
            "at": iso(event.at),
            "detail": event.detail,
        },
    )


async def event_stream(
    read_job: Callable[[], Job], read_events: Callable[[], list[JobEvent]], runner: Runner
) -> AsyncIterator[str]:
    """SSE messages for a job's events and progress, in order, until a final state."""
    sent = 0
    progress: tuple[float, str] | None = None
    quiet_since = time.monotonic()
    while True:
        events = await runner.read(read_events)
        job = await runner.read(read_job)
        for event in events[sent:]:
            message = _event_message(event)
            if message is not None:
                quiet_since = time.monotonic()
                yield message
        sent = len(events)
        current = (job.progress.pct, job.progress.note)
        if job.status.value == "processing" and current != progress and current[0] > 0:
            progress = current
            quiet_since = time.monotonic()
            yield _message(
                f"{job.job_id}.{job.attempt}.{current[0]:g}",
                NoticeType.PROGRESS.value,
                {"job_id": job.job_id, "status": job.status.value, "attempt": job.attempt,
                 "pct": current[0], "note": current[1]},
            )  # fmt: skip
        if job.terminal and events and events[-1].status.terminal:
            return
        if time.monotonic() - quiet_since >= KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(INTERVAL)
