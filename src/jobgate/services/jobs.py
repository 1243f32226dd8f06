"""Submitting, reading, listing and cancelling jobs: the policy behind the HTTP contract.

Owner scoping lives here: every read takes the caller's owner id (``None`` for the admin), and
another owner's job is reported exactly like a missing one (:class:`NotFound`), so ids leak
nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from jobgate import tracing
from jobgate.domain import transitions as verbs
from jobgate.domain.ids import is_valid_id, new_id
from jobgate.domain.models import (
    JSON,
    BlobRef,
    Delivery,
    Job,
    JobEvent,
    JobStatus,
    OutgoingMessage,
    Page,
    compact_json,
)
from jobgate.errors import (
    Conflict,
    IdempotencyConflict,
    JobGateError,
    NotFound,
    TransitionConflict,
)
from jobgate.ports import Backend
from jobgate.registry import JobGate

ENVELOPE_VERSION = 1


def envelope(job: Job) -> OutgoingMessage:
    """The queue message for a job: a versioned pointer; the ledger holds the rest."""
    body = f'{{"v":{ENVELOPE_VERSION},"job_id":"{job.job_id}"}}'  # a ULID needs no escaping
    attributes = {"JobType": job.type, "Owner": job.owner}
    if job.trace_parent:
        attributes["traceparent"] = job.trace_parent  # the worker's spans join the submit's
    return OutgoingMessage(body, attributes)


def read_envelope(body: str) -> str:
    """The job id a queue message names; ValueError when it is not an envelope of ours."""
    try:
        parsed = json.loads(body)
        version, job_id = parsed["v"], parsed["job_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a jobgate envelope: {exc}") from exc
    if version != ENVELOPE_VERSION or not isinstance(job_id, str):
        raise ValueError(f"envelope version {version!r} is not {ENVELOPE_VERSION}")
    return job_id


def job_id_of(delivery: Delivery) -> str | None:
    """The job id a delivered message names, or None when it is not an envelope of ours."""
    try:
        return read_envelope(delivery.body)
    except ValueError:
        return None


def request_hash(job_type: str, payload: JSON, max_attempts: int | None) -> str:
    canonical = json.dumps(
        {"type": job_type, "payload": payload, "max_attempts": max_attempts},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def payload_key(owner: str, job_id: str) -> str:
    return f"{owner}/{job_id}/payload.json"


def result_key(owner: str, job_id: str) -> str:
    return f"{owner}/{job_id}/result.json"


def artifact_key(owner: str, job_id: str, name: str) -> str:
    return f"{owner}/{job_id}/artifacts/{name}"


def _require_completed(job: Job) -> None:
    if job.status is not JobStatus.COMPLETED:
        state = job.status.value
        raise Conflict(f"job {job.job_id} is {state}, not completed", job_status=state)


@dataclass(frozen=True)
class SubmitRequest:
    """One job to submit (the arguments of :meth:`JobService.submit`)."""

    owner: str
    job_type: str
    payload: JSON
    idempotency_key: str | None = None
    max_attempts: int | None = None
    delay_seconds: int = 0
    trace_parent: str | None = None  # the submitting request's span (default: the current one)


@dataclass(frozen=True)
class _Draft:
    job: Job
    event: JobEvent
    message: OutgoingMessage


@dataclass(frozen=True)
class ResultView:
    """A finished job's result: inline JSON, or a signed URL to the stored blob."""

    job: Job
    inline: JSON = None
    url: str | None = None


class JobService:
    def __init__(
        self,
        backend: Backend,
        app: JobGate,
        *,
        inline_payload_bytes: int,
        url_expiry_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._app = app
        self._inline_payload_bytes = inline_payload_bytes
        self._url_expiry = url_expiry_seconds
        self._clock = clock

    def submit(
        self,
        owner: str,
        job_type: str,
        payload: JSON,
        *,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: int = 0,
    ) -> tuple[Job, bool]:
        """Record a job and enqueue it; return ``(job, created)``.

        Same owner + same ``idempotency_key`` + same request returns the first job and
        ``created=False``; the same key with a different request raises IdempotencyConflict.
        On the local backend the record and the message commit together; elsewhere the
        record goes first and the reconciler re-sends a message that never left.
        """
        request = SubmitRequest(
            owner, job_type, payload, idempotency_key, max_attempts, delay_seconds
        )
        draft = self._draft(request)
        with self._backend.atomic():
            stored, created = self._record(draft)
        return self._conclude(draft, stored, created)

    def submit_many(self, requests: list[SubmitRequest]) -> list[tuple[Job, bool] | JobGateError]:
        """:meth:`submit` for a batch, answering each request on its own: its job, or the
        error it alone caused (validation, an idempotency conflict). The records are written
        together (``JobStore.create_many``: one transaction on SQLite, ``BatchWriteItem`` on
        DynamoDB) and the new jobs' messages sent together (``SendMessageBatch`` on SQS). When
        the write or the send fails, every job of the batch that was made is withdrawn and each
        request gets that error: no client is left with a job it was not told of."""
        drafts: list[_Draft | JobGateError] = []
        for request in requests:
            try:
                drafts.append(self._draft(request))
            except JobGateError as exc:
                drafts.append(exc)
        valid = [d for d in drafts if isinstance(d, _Draft)]
        try:
            with self._backend.atomic():
                made = self._backend.jobs.create_many([(d.job, d.event) for d in valid])
                fresh = [d for d, (_, created) in zip(valid, made, strict=True) if created]
                if fresh:
                    with contextlib.ExitStack() as spans:
                        for d in fresh:
                            spans.enter_context(tracing.span(
                                "jobgate.enqueue", parent=d.job.trace_parent, kind="producer",
                                job_id=d.job.job_id, job_type=d.job.type,
                            ))  # fmt: skip
                        self._backend.queue.send([d.message for d in fresh])
        except JobGateError as exc:
            for d in valid:  # each draft's own new id: a replayed job is never touched
                with contextlib.suppress(JobGateError):
                    self._backend.jobs.withdraw(d.job)
            return [exc for _ in drafts]
        outcomes = iter(made)
        results: list[tuple[Job, bool] | JobGateError] = []
        for draft in drafts:
            if isinstance(draft, JobGateError):
                results.append(draft)
                continue
            try:
                results.append(self._conclude(draft, *next(outcomes)))
            except JobGateError as exc:
                results.append(exc)
        return results

    def _draft(self, request: SubmitRequest) -> _Draft:
        """Validate and build the job, its first event and its message (writes only a large
        payload's blob, before the record: a crash leaves an orphan blob, never a dangling
        pointer)."""
        spec = self._app.get(request.job_type)
        # only a keyed submit is ever compared with a later one (an idempotent replay)
        digest = (
            request_hash(request.job_type, request.payload, request.max_attempts)
            if request.idempotency_key is not None
            else None
        )
        now = self._clock()
        job_id = new_id(now)
        encoded = compact_json(request.payload).encode()
        payload_ref: BlobRef | None = None
        if len(encoded) > self._inline_payload_bytes:
            payload_ref = self._backend.blobs.put(
                payload_key(request.owner, job_id), encoded, "application/json"
            )
        delay = request.delay_seconds
        job = Job(
            job_id=job_id,
            owner=request.owner,
            type=request.job_type,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            payload=None if payload_ref else request.payload,
            payload_ref=payload_ref,
            max_attempts=request.max_attempts or spec.max_attempts,
            timeout=spec.timeout,
            run_after=now + delay if delay else None,
            idempotency_key=request.idempotency_key,
            request_hash=digest,
            trace_parent=request.trace_parent or tracing.traceparent(),
        )
        event = verbs.submitted(job)
        message = envelope(job)
        if delay:
            message = OutgoingMessage(message.body, message.attributes, delay)
        return _Draft(job, event, message)

    def _record(self, draft: _Draft) -> tuple[Job, bool]:
        stored, created = self._backend.jobs.create(draft.job, draft.event)
        if created:
            try:
                job = draft.job
                with tracing.span("jobgate.enqueue", parent=job.trace_parent, kind="producer",
                                  job_id=job.job_id, job_type=job.type):  # fmt: skip
                    self._backend.queue.send([draft.message])
            except JobGateError:
                # The client gets an error, so no job may remain that it was never told of
                # (on local the transaction rolls back; elsewhere the record is withdrawn). If
                # the withdrawal fails too, the reconciler sends the job's message later.
                with contextlib.suppress(JobGateError):
                    self._backend.jobs.withdraw(draft.job)
                raise
        return stored, created

    @staticmethod
    def _conclude(draft: _Draft, stored: Job, created: bool) -> tuple[Job, bool]:
        if not created and stored.request_hash != draft.job.request_hash:
            raise IdempotencyConflict(
                f"Idempotency-Key {draft.job.idempotency_key!r} was used for job "
                f"{stored.job_id} with a different request",
                job_id=stored.job_id,
            )
        return stored, created

    def get(self, owner: str | None, job_id: str) -> Job:
        """The job if ``owner`` may see it (``None``: the admin sees all); NotFound otherwise."""
        job = self._backend.jobs.get(job_id) if is_valid_id(job_id) else None
        if job is None or (owner is not None and job.owner != owner):
            raise NotFound(f"no job {job_id!r}")
        return job

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        return self._backend.jobs.list_jobs(
            owner, status=status, job_type=job_type, cursor=cursor, limit=limit
        )

    def events(self, owner: str | None, job_id: str) -> list[JobEvent]:
        self.get(owner, job_id)
        return self._backend.jobs.events(job_id)

    def cancel(self, owner: str | None, job_id: str) -> Job:
        """Cancel: ``queued`` becomes ``cancelled`` at once (it will never run); ``processing``
        gets ``cancel_requested`` and the handler sees ``ctx.cancelled()``; a finished job is a
        409 (terminal states never change)."""
        job = self.get(owner, job_id)
        for _ in range(5):
            if job.status is JobStatus.PROCESSING and job.cancel_requested:
                return job  # asked already: the handler is being told
            try:
                return self._backend.jobs.transition(verbs.cancel(job, now=self._clock()))
            except TransitionConflict as exc:
                if exc.current is None:
                    raise NotFound(f"no job {job_id!r}") from exc
                job = exc.current
        raise Conflict(f"job {job_id} is changing too fast to cancel; try again")

    def result(self, owner: str | None, job_id: str) -> ResultView:
        """A completed job's result; 409 while it is not completed."""
        job = self.get(owner, job_id)
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"job {job_id} is {job.status.value}, not completed", job_status=job.status.value
            )
        if job.result_ref is not None:
            return ResultView(job, url=self.signed_url(job.result_ref, "result.json"))
        return ResultView(job, inline=job.result)

    def download_url(self, owner: str | None, job_id: str, artifact: str | None) -> str:
        """A fresh signed URL for an artifact (default: the first one) or the stored result."""
        job = self.get(owner, job_id)
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"job {job_id} is {job.status.value}, not completed", job_status=job.status.value
            )
        refs = {ref.key.rsplit("/", 1)[-1]: ref for ref in job.artifacts}
        if artifact is not None:
            if artifact not in refs:
                raise NotFound(f"job {job_id} has no artifact {artifact!r}")
            return self.signed_url(refs[artifact], artifact)
        url = self.file_url(job)
        if url is None:
            raise NotFound(f"job {job_id} has no stored file; its result is inline")
        return url

    def file_url(self, job: Job) -> str | None:
        """A fresh signed URL for a completed job's first artifact, else its stored result;
        None when it has neither (an inline result)."""
        if job.status is not JobStatus.COMPLETED:
            return None
        if job.artifacts:
            first = job.artifacts[0]
            return self.signed_url(first, first.key.rsplit("/", 1)[-1])
        if job.result_ref is not None:
            return self.signed_url(job.result_ref, "result.json")
        return None

    def signed_url(self, ref: BlobRef, filename: str) -> str:
        return self._backend.blobs.signed_url(ref.key, self._url_expiry, filename)
