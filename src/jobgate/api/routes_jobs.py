"""Job routes: ``/jobs`` and the seed 002 aliases ``/submit`` and ``/status/{jobId}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, ValidationError

from jobgate import tracing
from jobgate.api import live
from jobgate.api.batching import SubmitBatcher
from jobgate.api.body import check_json_value, parse_model
from jobgate.api.deps import (
    PROBLEM_RESPONSES,
    Runner,
    absolute,
    body_schema,
    credentials,
    json_body,
)
from jobgate.api.problems import clean_errors, problem_of
from jobgate.api.schemas import (
    BatchItemOut,
    BatchJob,
    BatchOut,
    DownloadUrl,
    EventOut,
    EventPage,
    JobOut,
    JobPage,
    ResultOut,
    SeedStatus,
    SeedSubmit,
    SeedSubmitted,
    SubmitBatch,
    SubmitJob,
    job_json,
)
from jobgate.bootstrap import Services
from jobgate.domain.models import Job, JobStatus
from jobgate.errors import BackendUnavailable, JobGateError, ValidationFailed
from jobgate.services.jobs import SubmitRequest

Key = Annotated[str | None, Depends(credentials)]
Body = Annotated[bytes, Depends(json_body)]
IdemKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Retry-safe submit key"),
]


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise a response model straight to JSON (hot routes): the model was built from a
    trusted record, so FastAPI's second validation against ``response_model`` is skipped."""
    return Response(model.model_dump_json(), status, headers, media_type="application/json")


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Retries with the same key (and body) return the same job.",
}


def check_idempotency_key(value: str | None) -> None:
    if value is not None and (not 0 < len(value) <= 255 or not value.isprintable()):
        raise ValidationFailed("Idempotency-Key must be 1-255 printable characters")


def idempotency_header(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    check_idempotency_key(value)
    return value


def _batch_request(item: Any, owner: str, max_depth: int) -> SubmitRequest | JobGateError:
    """One job of a batch as a submit request, or what is wrong with it (as POST /jobs
    would say it)."""
    try:
        body = BatchJob.model_validate(item)
        check_json_value(body.payload, max_depth)
        check_idempotency_key(body.idempotency_key)
    except ValidationError as exc:
        return ValidationFailed(
            "the job is not valid", errors=clean_errors(exc.errors(include_input=False))
        )
    except JobGateError as exc:
        return exc
    return SubmitRequest(owner, body.type, body.payload, body.idempotency_key,
                         body.max_attempts, body.delay_seconds, tracing.traceparent())  # fmt: skip


def _batch_answer(index: int, outcome: tuple[Job, bool] | JobGateError, where: str) -> BatchItemOut:
    if isinstance(outcome, JobGateError):
        return BatchItemOut(index=index, status=outcome.status, problem=problem_of(outcome, where))
    job, created = outcome
    return BatchItemOut(index=index, status=202, replayed=not created, job=JobOut.of(job))


async def _submit_batch(
    batch: SubmitBatch, owner: str, services: Services, runner: Runner, where: str
) -> BatchOut:
    answers: list[BatchItemOut | None] = []
    wanted: list[tuple[int, SubmitRequest]] = []
    for index, item in enumerate(batch.jobs):
        parsed = _batch_request(item, owner, services.settings.max_json_depth)
        if isinstance(parsed, JobGateError):
            answers.append(_batch_answer(index, parsed, where))
        else:
            answers.append(None)
            wanted.append((index, parsed))
    with tracing.span("jobgate.submit", owner=owner, jobs=len(wanted)):
        outcomes = await runner.write(lambda: services.jobs.submit_many([r for _, r in wanted]))
    failures = [o for o in outcomes if isinstance(o, BackendUnavailable)]
    if failures and len(failures) == len(batch.jobs):
        raise failures[0]  # nothing was accepted, all for the same reason: one 503
    for (index, _), outcome in zip(wanted, outcomes, strict=True):
        answers[index] = _batch_answer(index, outcome, where)
    results = [a for a in answers if a is not None]
    accepted = sum(1 for a in results if a.job is not None)
    return BatchOut(accepted=accepted, results=results)


BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": SubmitBatch.documented()}},
    }
}


def _add_batch_route(router: APIRouter, services: Services, runner: Runner) -> None:
    @router.post(
        "/jobs/batch",
        status_code=207,
        response_model=BatchOut,
        openapi_extra=BATCH_BODY,
        summary="Submit up to 25 jobs in one request",
        responses={207: {"description": "Each job's own answer, in order."}},
    )
    async def submit_batch(request: Request) -> Response:
        """Up to 25 jobs, each validated and answered on its own, as ``POST /jobs`` would
        answer it: ``202`` with the job (``replayed`` when its ``idempotency_key`` named an
        earlier job with the same request), or its problem (``422`` invalid, ``409`` a key
        used for another request). The body itself must be ``{"jobs": [...]}`` with 1 to 25
        entries, else nothing is written and the answer is one 4xx. The accepted jobs are
        recorded together and their messages sent together (on AWS: ``BatchWriteItem`` and
        ``SendMessageBatch``); when that fails every one of them gets the error (``503`` +
        ``Retry-After`` when all did) and none remains."""
        key = await credentials(request)
        raw = await json_body(request)
        who = await runner.read(lambda: services.users.authenticate(key))
        batch = parse_model(SubmitBatch, raw)
        answer = await _submit_batch(batch, who.owner, services, runner, request.url.path)
        return json_response(answer, 207)


def build_router(services: Services, runner: Runner) -> APIRouter:
    batcher = SubmitBatcher(services.jobs, runner.write)
    router = APIRouter(tags=["jobs"], responses=PROBLEM_RESPONSES)
    jobs, users, settings = services.jobs, services.users, services.settings

    @router.post(
        "/jobs",
        status_code=202,
        response_model=JobOut,
        openapi_extra={**body_schema(SubmitJob), "parameters": [IDEMPOTENCY_PARAMETER]},
        summary="Submit a job",
    )
    async def submit(request: Request) -> Response:
        """Record the job and enqueue it; answers at once with ``202`` and ``Location``.
        The same ``Idempotency-Key`` with the same body returns the same job."""
        # The hottest route takes only the request: every FastAPI dependency costs time on
        # each call, so headers and body are read here (the OpenAPI entry documents them).
        key = await credentials(request)
        idempotency_key = idempotency_header(request)
        raw = await json_body(request)
        who = await runner.read(lambda: users.authenticate(key))
        body = parse_model(SubmitJob, raw)
        check_json_value(body.payload, settings.max_json_depth)
        with tracing.span("jobgate.submit", job_type=body.type, owner=who.owner):
            job, created = await batcher.submit(
                SubmitRequest(
                    who.owner,
                    body.type,
                    body.payload,
                    idempotency_key,
                    body.max_attempts,
                    body.delay_seconds,
                    tracing.traceparent(),  # the batch is written on another thread
                )
            )
        headers = {"Location": f"/jobs/{job.job_id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(job_json(job), 202, headers, media_type="application/json")

    _add_batch_route(router, services, runner)

    @router.get("/jobs", response_model=JobPage, summary="List your jobs")
    @runner.reads
    def list_jobs(
        key: Key,
        status: JobStatus | None = None,
        job_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> JobPage:
        who = users.authenticate(key)
        page = jobs.list_jobs(
            who.scope, status=status, job_type=job_type, cursor=cursor, limit=limit
        )
        return JobPage(jobs=[JobOut.of(j) for j in page.items], next_cursor=page.cursor)

    @router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status")
    async def get_job(
        job_id: str,
        key: Key,
        wait: Annotated[
            float | None,
            Query(ge=0, le=30, description="Answer when the status changes, or after this long."),
        ] = None,
    ) -> Response:
        """The job's status. With ``wait=N`` (at most 30 s) the answer waits until the status
        differs from what it was when the request came, or N seconds passed: no polling."""
        scope = (await runner.read(lambda: users.authenticate(key))).scope
        job = await runner.read(lambda: jobs.get(scope, job_id))
        if wait:
            job = await live.status_change(lambda: jobs.get(scope, job_id), job, wait, runner)
        return Response(job_json(job), media_type="application/json")

    @router.get(
        "/jobs/{job_id}/events/stream",
        summary="A job's events as they happen (Server-Sent Events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_events(job_id: str, key: Key) -> StreamingResponse:
        """One SSE message per event of the job's history (``job.queued``, ``job.started``,
        ``job.retry_scheduled``, ``job.completed``, …) and per progress change
        (``job.progress``), in order, from the first; the stream ends after a final state."""
        scope = (await runner.read(lambda: users.authenticate(key))).scope
        await runner.read(lambda: jobs.get(scope, job_id))  # 404 before the stream starts
        return StreamingResponse(
            live.event_stream(
                lambda: jobs.get(scope, job_id), lambda: jobs.events(scope, job_id), runner
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
    @runner.writes
    def cancel_job(job_id: str, key: Key) -> JobOut:
        """``queued`` → ``cancelled`` at once; ``processing`` → the handler is asked to stop."""
        return JobOut.of(jobs.cancel(users.authenticate(key).scope, job_id))

    @router.get(
        "/jobs/{job_id}/result",
        response_model=ResultOut,
        responses={307: {"description": "Redirect to a signed URL of the stored result"}},
        summary="A completed job's result",
    )
    @runner.reads
    def get_result(request: Request, job_id: str, key: Key) -> ResultOut | RedirectResponse:
        view = jobs.result(users.authenticate(key).scope, job_id)
        if view.url is not None:
            return RedirectResponse(absolute(request, settings.public_url, view.url), 307)
        return ResultOut(job_id=job_id, result=view.inline)

    @router.get(
        "/jobs/{job_id}/download-url", response_model=DownloadUrl, summary="A fresh signed URL"
    )
    @runner.reads
    def download_url(
        request: Request,
        job_id: str,
        key: Key,
        artifact: Annotated[str | None, Query(max_length=128)] = None,
    ) -> DownloadUrl:
        """A fresh signed URL for the job's artifact (or its stored result)."""
        url = jobs.download_url(users.authenticate(key).scope, job_id, artifact)
        return DownloadUrl(
            url=absolute(request, settings.public_url, url), expires_in=settings.url_expiry_seconds
        )

    @router.get("/jobs/{job_id}/events", response_model=EventPage, summary="A job's history")
    @runner.reads
    def job_events(job_id: str, key: Key) -> EventPage:
        events = jobs.events(users.authenticate(key).scope, job_id)
        return EventPage(job_id=job_id, events=[EventOut.of(e) for e in events])

    return router


def build_seed_router(services: Services, runner: Runner) -> APIRouter:
    """Seed 002's shapes: ``POST /submit`` and ``GET /status/{jobId}``."""
    router = APIRouter(tags=["seed aliases"], responses=PROBLEM_RESPONSES)
    jobs, users, settings = services.jobs, services.users, services.settings

    @router.post(
        "/submit",
        status_code=202,
        response_model=SeedSubmitted,
        openapi_extra=body_schema(SeedSubmit),
        summary="Submit (seed 002 shape)",
    )
    @runner.writes
    def seed_submit(
        response: Response, raw: Body, key: Key, idempotency_key: IdemKey = None
    ) -> SeedSubmitted:
        who = users.authenticate(key)
        body = parse_model(SeedSubmit, raw)
        check_json_value(body.data, settings.max_json_depth, "data")
        check_idempotency_key(idempotency_key)
        job, _ = jobs.submit(who.owner, body.task, body.data, idempotency_key=idempotency_key)
        response.headers["Location"] = f"/status/{job.job_id}"
        return SeedSubmitted(jobId=job.job_id, status=job.status, statusUrl=f"/status/{job.job_id}")

    @router.get(
        "/status/{job_id}",
        response_model=SeedStatus,
        summary="Status (seed 002 shape)",
    )
    @runner.reads
    def seed_status(job_id: str, key: Key) -> SeedStatus:
        return SeedStatus.of(jobs.get(users.authenticate(key).scope, job_id))

    return router
