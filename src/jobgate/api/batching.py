"""Group commit for submits: requests that arrive together share one transaction.

Each ``POST /jobs`` hands its :class:`SubmitRequest` to the batcher and awaits the answer. The
first request of a loop iteration schedules a flush; every request parsed before the flush runs
joins it. At low load a batch is one request (no added latency); under load the commit, the
costliest part of a local submit, is paid once per batch. Each request still gets its own
result or error: one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from jobgate.domain.models import Job
from jobgate.errors import JobGateError
from jobgate.services.jobs import JobService, SubmitRequest

Outcome = tuple[Job, bool] | JobGateError
# runs the batch where writes run; the float is when its oldest request arrived (monotonic)
Runner = Callable[[Callable[[], list[Outcome]], float], Awaitable[list[Outcome]]]

_MAX_BATCH = 64


class SubmitBatcher:
    def __init__(self, jobs: JobService, run: Runner) -> None:
        self._jobs = jobs
        self._run = run
        self._pending: list[tuple[SubmitRequest, asyncio.Future[tuple[Job, bool]], float]] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()  # held so the loop cannot drop a flush

    def _schedule_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def submit(self, request: SubmitRequest) -> tuple[Job, bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Job, bool]] = loop.create_future()
        self._pending.append((request, future, time.monotonic()))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule_flush()
        return await future

    async def _flush(self) -> None:
        batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        if self._pending:
            self._schedule_flush()
        else:
            self._flush_scheduled = False
        try:
            outcomes = await self._run(
                lambda: self._jobs.submit_many([r for r, _, _ in batch]), batch[0][2]
            )
        except Exception as exc:  # the whole batch failed (e.g. the database is unavailable)
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future, _), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue  # the client went away
            if isinstance(outcome, JobGateError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
