"""Operations: queue status, schedules, health, readiness, metrics, signed blob downloads."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse, JSONResponse

from jobgate.api.deps import PROBLEM_RESPONSES, PUBLIC, Runner, credentials
from jobgate.api.schemas import QueueStatus, ScheduleOut, iso
from jobgate.bootstrap import Services
from jobgate.errors import JobGateError, NotAvailable

Key = Annotated[str | None, Depends(credentials)]


def build_router(services: Services, runner: Runner) -> APIRouter:
    router = APIRouter(responses=PROBLEM_RESPONSES)
    backend = services.backend
    admin = services.users.authenticate_admin

    @router.get("/admin/queue-status", response_model=QueueStatus, tags=["admin"])
    @runner.reads
    def queue_status(key: Key) -> QueueStatus:
        """Queue depth, messages in flight, delayed, and the dead-letter queue's depth."""
        admin(key)
        stats = backend.queue.stats()
        return QueueStatus(
            depth=stats.depth,
            in_flight=stats.in_flight,
            delayed=stats.delayed,
            dlq_depth=stats.dead_letters,
            oldest_age_seconds=round(stats.oldest_age_seconds, 3),
        )

    router.add_api_route(
        "/api/admin/queue-status",
        queue_status,
        methods=["GET"],
        response_model=QueueStatus,
        tags=["seed aliases"],
        summary="Queue status (seed 003 path)",
    )

    @router.get("/admin/schedules", response_model=list[ScheduleOut], tags=["admin"])
    @runner.reads
    def schedules(key: Key) -> list[ScheduleOut]:
        """Each schedule: its expression, last tick enqueued, next tick, ticks missed."""
        admin(key)
        return [
            ScheduleOut(
                name=v.spec.name,
                expression=v.spec.expression,
                job_type=v.spec.job_type,
                last_tick=iso(v.state.last_tick),
                next_tick=iso(v.next_tick),
                missed=v.state.missed,
            )
            for v in services.schedules.views()
        ]

    @router.get("/healthz", tags=["operations"], openapi_extra=PUBLIC)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["operations"], openapi_extra=PUBLIC)
    @runner.reads
    def readyz() -> JSONResponse:
        """The backend answers (503 with Retry-After when it does not)."""
        try:
            backend.queue.stats()
        except JobGateError as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": exc.detail}, 503, headers={"Retry-After": "2"}
            )
        return JSONResponse({"status": "ready", "backend": backend.name})

    server = backend.blob_server
    if server is not None:

        @router.get(
            "/blobs/{key:path}",
            tags=["downloads"],
            summary="Download via a signed URL",
            openapi_extra=PUBLIC,
        )
        def download(
            key: str,
            expires: int,
            sig: Annotated[str, Query(max_length=100)],
            filename: Annotated[str | None, Query(max_length=128)] = None,
        ) -> FileResponse:
            """Serves a result or artifact to whoever holds a valid, unexpired signed URL."""
            path, ref = server.resolve(key, expires, sig, filename)
            return FileResponse(path, media_type=ref.content_type, filename=filename)

    _add_metrics_route(router, services, runner)
    return router


def _add_metrics_route(router: APIRouter, services: Services, runner: Runner) -> None:
    admin = services.users.authenticate_admin

    @router.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
        summary="Job metrics (Prometheus text; admin key or JOBGATE_METRICS_TOKEN)",
    )
    @runner.reads
    def metrics(key: Key) -> Response:
        """Counters per job type (submitted, started, completed, failed, retried), run time
        and queue wait histograms, queue and DLQ depth, oldest queued age, notices sent."""
        token = services.settings.metrics_token
        if token is None or key is None or not hmac.compare_digest(key, token.get_secret_value()):
            admin(key)
        text = None if services.metrics is None else services.metrics.exposition()
        if text is None:
            raise NotAvailable(
                "metrics are off here (JOBGATE_METRICS=false, or a Lambda: they go to "
                "CloudWatch as EMF)"
            )
        return Response(text(), media_type="text/plain; version=0.0.4; charset=utf-8")
