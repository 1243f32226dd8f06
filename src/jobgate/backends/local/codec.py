"""Rows ⇄ domain records for the SQLite ledger. Pure functions, no I/O."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from jobgate.backends.fields import (
    JOB_FIELDS,
    change_fields,
    decode_cursor,
    dumps,
    encode_cursor,
    job_fields,
    job_from_fields,
)
from jobgate.domain.models import EventKind, Job, JobEvent, JobStatus

__all__ = ["EVENT_COLUMNS", "JOB_COLUMNS", "decode_cursor", "dumps", "encode_cursor"]

JOB_COLUMNS = ", ".join(JOB_FIELDS)


def job_params(job: Job) -> tuple[Any, ...]:
    """The values for an INSERT in :data:`JOB_COLUMNS` order."""
    fields = job_fields(job)
    return tuple(fields[name] for name in JOB_FIELDS)


def change_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Column → value for an UPDATE that applies ``changes`` (names are Job fields)."""
    return change_fields(changes)


def row_to_job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    return job_from_fields(dict(zip(JOB_FIELDS, row, strict=True)))


EVENT_COLUMNS = "event_id, job_id, owner, job_type, kind, status, attempt, at, detail"


def event_params(event: JobEvent, retention_seconds: float) -> tuple[Any, ...]:
    """Values for :data:`EVENT_COLUMNS`, then ``expires_at``."""
    return (
        event.event_id,
        event.job_id,
        event.owner,
        event.job_type,
        event.kind.value,
        event.status.value,
        event.attempt,
        event.at,
        dumps(event.detail),
        event.at + retention_seconds,
    )


def row_to_event(row: tuple[Any, ...]) -> JobEvent:
    event_id, job_id, owner, job_type, kind, status, attempt, at, detail = row
    return JobEvent(
        event_id=event_id,
        job_id=job_id,
        owner=owner,
        job_type=job_type,
        kind=EventKind(kind),
        status=JobStatus(status),
        attempt=attempt,
        at=at,
        detail=json.loads(detail),
    )
