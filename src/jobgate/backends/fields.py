"""Job records ⇄ flat scalar fields, and the blob-key rule: shared by every backend. No I/O.

A field holds a str, int, float or None: complex parts (payload, result, refs, artifacts,
error) are compact JSON strings, progress is two fields. SQLite stores the fields as columns,
DynamoDB as attributes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Any, TypeVar

from jobgate.domain.models import (
    BlobRef,
    Job,
    JobError,
    JobStatus,
    Page,
    Progress,
    compact_json,
)
from jobgate.domain.notices import (
    Channel,
    DeliveryStatus,
    NoticeDelivery,
    NoticeType,
    Secret,
    Subscription,
    SubscriptionStatus,
)
from jobgate.errors import ValidationFailed

T = TypeVar("T")

JOB_FIELDS = (
    "job_id", "owner", "type", "status", "created_at", "updated_at", "payload", "payload_ref",
    "result", "result_ref", "artifacts", "error", "progress_pct", "progress_note", "attempt",
    "max_attempts", "timeout", "lease_owner", "lease_expires_at", "run_after", "cancel_requested",
    "idempotency_key", "request_hash", "started_at", "finished_at", "version", "trace_parent",
)  # fmt: skip
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
        "trace_parent",
    }
)


dumps = compact_json  # every stored JSON column


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _ref_or_null(ref: BlobRef | None) -> str | None:
    return None if ref is None else dumps(asdict(ref))


def job_fields(job: Job) -> dict[str, Any]:
    """Every field of ``job`` (in :data:`JOB_FIELDS` order)."""
    return {
        "job_id": job.job_id,
        "owner": job.owner,
        "type": job.type,
        "status": job.status.value,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "payload": _json_or_null(job.payload),
        "payload_ref": _ref_or_null(job.payload_ref),
        "result": _json_or_null(job.result),
        "result_ref": _ref_or_null(job.result_ref),
        "artifacts": dumps([asdict(a) for a in job.artifacts]) if job.artifacts else None,
        "error": None if job.error is None else dumps(asdict(job.error)),
        "progress_pct": job.progress.pct,
        "progress_note": job.progress.note,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "lease_owner": job.lease_owner,
        "lease_expires_at": job.lease_expires_at,
        "run_after": job.run_after,
        "cancel_requested": int(job.cancel_requested),
        "idempotency_key": job.idempotency_key,
        "request_hash": job.request_hash,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "version": job.version,
        "trace_parent": job.trace_parent,
    }


def change_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Field → value for applying ``changes`` (keys are Job attribute names)."""
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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def job_from_fields(f: Mapping[str, Any]) -> Job:
    """The Job that :func:`job_fields` made ``f`` from (missing optional fields are None)."""
    artifacts, error, payload, result = (
        f.get("artifacts"), f.get("error"), f.get("payload"), f.get("result"),
    )  # fmt: skip
    return Job(
        job_id=f["job_id"],
        owner=f["owner"],
        type=f["type"],
        status=JobStatus(f["status"]),
        created_at=float(f["created_at"]),
        updated_at=float(f["updated_at"]),
        payload=None if payload is None else json.loads(payload),
        payload_ref=_ref(f.get("payload_ref")),
        result=None if result is None else json.loads(result),
        result_ref=_ref(f.get("result_ref")),
        artifacts=tuple(BlobRef(**a) for a in json.loads(artifacts)) if artifacts else (),
        error=None if error is None else JobError(**json.loads(error)),
        progress=Progress(float(f.get("progress_pct") or 0), f.get("progress_note") or ""),
        attempt=int(f.get("attempt") or 0),
        max_attempts=int(f["max_attempts"]),
        timeout=float(f["timeout"]),
        lease_owner=f.get("lease_owner"),
        lease_expires_at=_float(f.get("lease_expires_at")),
        run_after=_float(f.get("run_after")),
        cancel_requested=bool(f.get("cancel_requested")),
        idempotency_key=f.get("idempotency_key"),
        request_hash=f.get("request_hash"),
        started_at=_float(f.get("started_at")),
        finished_at=_float(f.get("finished_at")),
        version=int(f["version"]),
        trace_parent=f.get("trace_parent"),
    )


def page_of(matching: Sequence[T], limit: int, position: Callable[[T], str]) -> Page[T]:
    """The first ``limit`` of ``matching`` (which holds one more when another page exists), with
    the cursor of the next page: the position of the page's last item."""
    items = list(matching[:limit])
    more = len(matching) > limit and bool(items)
    return Page(items, encode_cursor(position(items[-1])) if more else None)


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position a cursor names; a cursor that was not made here is a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page") from exc


def check_key(key: str) -> str:
    """A blob key is a relative POSIX path without ``..``; anything else is refused."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\x00" in key or "\\" in key:
        raise ValidationFailed(f"invalid blob key {key!r}")
    return key


# -- notices (subscriptions and deliveries as one JSON text each) ------------------------------


def subscription_text(sub: Subscription) -> str:
    data = asdict(sub)
    data["event_types"] = sorted(sub.event_types)
    data["job_types"] = None if sub.job_types is None else sorted(sub.job_types)
    return dumps(data)


def subscription_of(text: str) -> Subscription:
    data: dict[str, Any] = json.loads(text)
    return Subscription(
        **{
            **data,
            "channel": Channel(data["channel"]),
            "status": SubscriptionStatus(data["status"]),
            "event_types": frozenset(NoticeType(t) for t in data["event_types"]),
            "job_types": None if data["job_types"] is None else frozenset(data["job_types"]),
            "secrets": tuple(Secret(**s) for s in data["secrets"]),
        }
    )


def delivery_text(delivery: NoticeDelivery) -> str:
    return dumps(asdict(delivery))


def delivery_of(text: str) -> NoticeDelivery:
    data: dict[str, Any] = json.loads(text)
    return NoticeDelivery(
        **{**data, "status": DeliveryStatus(data["status"]), "notice": NoticeType(data["notice"])}
    )
