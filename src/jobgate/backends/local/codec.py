"""Rows ⇄ domain records for the SQLite ledger. Pure functions, no I/O."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from jobgate.domain.models import BlobRef, Job, JobError, JobEvent, JobStatus, Progress
from jobgate.errors import ValidationFailed

JOB_COLUMNS = (
    "job_id, owner, type, status, created_at, updated_at, payload, payload_ref, result, "
    "result_ref, artifacts, error, progress_pct, progress_note, attempt, max_attempts, timeout, "
    "lease_owner, lease_expires_at, run_after, cancel_requested, idempotency_key, request_hash, "
    "started_at, finished_at, version"
)
_PLAIN = frozenset(
    {
        "owner",
        "type",
        "created_at",
        "updated_at",
        "attempt",
        "max_attempts",
        "timeout",
        "lease_owner",
        "lease_expires_at",
        "run_after",
        "idempotency_key",
        "request_hash",
        "started_at",
        "finished_at",
    }
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _ref_or_null(ref: BlobRef | None) -> str | None:
    return None if ref is None else dumps(asdict(ref))


def job_params(job: Job) -> tuple[Any, ...]:
    """The values for an INSERT in :data:`JOB_COLUMNS` order."""
    return (
        job.job_id,
        job.owner,
        job.type,
        job.status.value,
        job.created_at,
        job.updated_at,
        _json_or_null(job.payload),
        _ref_or_null(job.payload_ref),
        _json_or_null(job.result),
        _ref_or_null(job.result_ref),
        dumps([asdict(a) for a in job.artifacts]) if job.artifacts else None,
        None if job.error is None else dumps(asdict(job.error)),
        job.progress.pct,
        job.progress.note,
        job.attempt,
        job.max_attempts,
        job.timeout,
        job.lease_owner,
        job.lease_expires_at,
        job.run_after,
        int(job.cancel_requested),
        job.idempotency_key,
        job.request_hash,
        job.started_at,
        job.finished_at,
        job.version,
    )


def change_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Column → value for an UPDATE that applies ``changes`` (names are Job fields)."""
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _PLAIN:
            columns[name] = value
        elif name == "status":
            columns["status"] = JobStatus(value).value
        elif name in ("payload", "result"):
            columns[name] = _json_or_null(value)
        elif name in ("payload_ref", "result_ref"):
            columns[name] = _ref_or_null(value)
        elif name == "artifacts":
            columns[name] = dumps([asdict(a) for a in value]) if value else None
        elif name == "error":
            columns[name] = None if value is None else dumps(asdict(value))
        elif name == "progress":
            columns["progress_pct"], columns["progress_note"] = value.pct, value.note
        elif name == "cancel_requested":
            columns[name] = int(value)
        else:
            raise ValueError(f"not a changeable job field: {name}")
    return columns


def _ref(text: str | None) -> BlobRef | None:
    return None if text is None else BlobRef(**json.loads(text))


def row_to_job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    (
        job_id,
        owner,
        type_,
        status,
        created_at,
        updated_at,
        payload,
        payload_ref,
        result,
        result_ref,
        artifacts,
        error,
        progress_pct,
        progress_note,
        attempt,
        max_attempts,
        timeout,
        lease_owner,
        lease_expires_at,
        run_after,
        cancel_requested,
        idempotency_key,
        request_hash,
        started_at,
        finished_at,
        version,
    ) = row
    return Job(
        job_id=job_id,
        owner=owner,
        type=type_,
        status=JobStatus(status),
        created_at=created_at,
        updated_at=updated_at,
        payload=None if payload is None else json.loads(payload),
        payload_ref=_ref(payload_ref),
        result=None if result is None else json.loads(result),
        result_ref=_ref(result_ref),
        artifacts=tuple(BlobRef(**a) for a in json.loads(artifacts)) if artifacts else (),
        error=None if error is None else JobError(**json.loads(error)),
        progress=Progress(progress_pct, progress_note),
        attempt=attempt,
        max_attempts=max_attempts,
        timeout=timeout,
        lease_owner=lease_owner,
        lease_expires_at=lease_expires_at,
        run_after=run_after,
        cancel_requested=bool(cancel_requested),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        started_at=started_at,
        finished_at=finished_at,
        version=version,
    )


def event_params(event: JobEvent, retention_seconds: float) -> tuple[Any, ...]:
    return (
        event.job_id,
        event.at,
        event.kind,
        event.status.value,
        event.attempt,
        dumps(event.detail),
        event.at + retention_seconds,
    )


def row_to_event(row: tuple[Any, ...]) -> JobEvent:
    job_id, at, kind, status, attempt, detail = row
    return JobEvent(job_id, at, kind, JobStatus(status), attempt, json.loads(detail))


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position a cursor names; a cursor that was not made here is a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page") from exc
