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
from jobgate.domain.models import Job, JobEvent, JobStatus

__all__ = ["JOB_COLUMNS", "decode_cursor", "dumps", "encode_cursor"]

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
