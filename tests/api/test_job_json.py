"""``job_json`` (the hot routes' hand-written rendering) against ``JobOut``'s own JSON: the same
bytes for jobs in every state, so the documented shape and the answers cannot drift apart."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobgate.api.schemas import JobOut, iso, job_json
from jobgate.domain.models import BlobRef, Job, JobError, JobStatus, Progress

T = 1_796_027_710.1239  # a time with sub-millisecond digits


def job(**changes: object) -> Job:
    base = Job(
        job_id="01JCONSTANT000000000000000",
        owner="01OWNER0000000000000000000",
        type="echo",
        status=JobStatus.QUEUED,
        created_at=T,
        updated_at=T,
        payload={"n": 1},
        max_attempts=3,
        timeout=30,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


ARTIFACT = BlobRef(key="o/j/report.csv", size=12, sha256="ab" * 32, content_type="text/csv")
CASES = {
    "queued": job(),
    "queued later": job(run_after=T + 30.5, updated_at=T + 0.25),
    "processing": job(
        status=JobStatus.PROCESSING, attempt=1, started_at=T + 1, progress=Progress(42.5, "half")
    ),
    "completed inline": job(
        status=JobStatus.COMPLETED, attempt=1, finished_at=T + 2, result={"ünïcode": ["✓", 1.5]}
    ),
    "completed with files": job(
        status=JobStatus.COMPLETED, result_ref=ARTIFACT, artifacts=(ARTIFACT,), finished_at=T + 3
    ),
    "failed": job(
        status=JobStatus.FAILED,
        attempt=3,
        error=JobError("ConnectionError", 'the host said "no"\n', retryable=True),
    ),
    "cancelled": job(status=JobStatus.CANCELLED, cancel_requested=True, result="not shown"),
}


@pytest.mark.parametrize("name", CASES)
def test_job_json_is_the_models_json(name: str) -> None:
    one = CASES[name]
    assert job_json(one) == JobOut.of(one).model_dump_json()


def test_times_are_rfc3339_milliseconds_in_utc() -> None:
    assert iso(T) == "2026-11-30T08:35:10.123Z"  # date -u -d @1796027710
    assert iso(None) is None


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False) | st.integers(0, 4 * 10**9))
@settings(max_examples=2000, deadline=None)
def test_iso_writes_what_datetime_writes(t: float) -> None:
    expected = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    assert iso(t) == expected.replace("+00:00", "Z")
