"""Every (state, verb) pair of the job state machine, without I/O.

The table says, for each starting state and each verb, where the job lands and which event
the move writes — or that the move is illegal (IllegalTransition). A row per state, a column
per verb; a test per cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from jobgate.domain import transitions as verbs
from jobgate.domain.models import EventKind, Job, JobError, JobStatus, Progress
from jobgate.domain.transitions import Transition
from jobgate.errors import IllegalTransition

NOW = 1_800_000_000.0
ERROR = JobError("RuntimeError", "boom", True)

BASE = Job(
    job_id="01JZZZZZZZZZZZZZZZZZZZZZZZ",
    owner="alice",
    type="echo",
    status=JobStatus.QUEUED,
    created_at=NOW - 60,
    updated_at=NOW - 60,
    max_attempts=3,
)

STATES: dict[str, Job] = {
    "queued": BASE,
    "queued_exhausted": replace(BASE, attempt=3),
    "processing": replace(
        BASE, status=JobStatus.PROCESSING, attempt=1, lease_owner="w", lease_expires_at=NOW + 30
    ),
    "processing_cancel_requested": replace(
        BASE,
        status=JobStatus.PROCESSING,
        attempt=1,
        lease_owner="w",
        lease_expires_at=NOW + 30,
        cancel_requested=True,
    ),
    "processing_last_attempt": replace(
        BASE, status=JobStatus.PROCESSING, attempt=3, lease_owner="w", lease_expires_at=NOW + 30
    ),
    "processing_dead_lease": replace(
        BASE, status=JobStatus.PROCESSING, attempt=1, lease_owner="w", lease_expires_at=NOW - 1
    ),
    "completed": replace(BASE, status=JobStatus.COMPLETED, attempt=1, finished_at=NOW - 1),
    "failed": replace(BASE, status=JobStatus.FAILED, attempt=3, error=ERROR, finished_at=NOW - 1),
    "cancelled": replace(BASE, status=JobStatus.CANCELLED, finished_at=NOW - 1),
}


def _attempt(job: Job) -> int:
    """The attempt a worker holding the job's lease would pass (the current one)."""
    return job.attempt


VERBS: dict[str, Callable[[Job], Transition]] = {
    "claim": lambda j: verbs.claim(j, now=NOW, worker="w2", lease_seconds=30),
    "heartbeat": lambda j: verbs.heartbeat(j, attempt=_attempt(j), now=NOW, lease_seconds=30),
    "progress": lambda j: verbs.report_progress(
        j, attempt=_attempt(j), now=NOW, progress=Progress(50)
    ),
    "complete": lambda j: verbs.complete(j, attempt=_attempt(j), now=NOW, result={"ok": 1}),
    "schedule_retry": lambda j: verbs.schedule_retry(
        j, attempt=_attempt(j), now=NOW, error=ERROR, delay=2
    ),
    "fail_attempt": lambda j: verbs.fail(j, attempt=_attempt(j), now=NOW, error=ERROR),
    "fail_lost": lambda j: verbs.fail(j, now=NOW, error=ERROR),
    "cancel": lambda j: verbs.cancel(j, now=NOW),
    "cancel_attempt": lambda j: verbs.cancel_attempt(j, attempt=_attempt(j), now=NOW),
    "requeue": lambda j: verbs.requeue(j, attempt=_attempt(j), now=NOW, reason="shutdown"),
    "expire_lease": lambda j: verbs.expire_lease(j, now=NOW),
    "resend": lambda j: verbs.resend(j, now=NOW),
    "redrive": lambda j: verbs.redrive(j, now=NOW, extra_attempts=3),
}

Q, P, C, F, X = (
    JobStatus.QUEUED,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
E = EventKind
# (status after, event kind or None), or None when the move is illegal
Cell = tuple[JobStatus, EventKind | None] | None
_PROCESSING_ROW: dict[str, Cell] = {
    "claim": None,  # the lease is live
    "heartbeat": (P, None),
    "progress": (P, E.PROGRESS),  # 0 % → 50 % crosses a tenth
    "complete": (C, E.COMPLETED),
    "schedule_retry": (Q, E.RETRY_SCHEDULED),
    "fail_attempt": (F, E.FAILED),
    "fail_lost": (F, E.FAILED),
    "cancel": (P, E.CANCEL_REQUESTED),
    "cancel_attempt": (X, E.CANCELLED),
    "requeue": (Q, E.RELEASED),
    "expire_lease": None,  # the lease is live
    "resend": None,
    "redrive": None,
}
_FINISHED_ROW: dict[str, Cell] = dict.fromkeys(VERBS, None)
TABLE: dict[str, dict[str, Cell]] = {
    "queued": {
        **_FINISHED_ROW,
        "claim": (P, E.CLAIMED),
        "fail_lost": (F, E.FAILED),
        "cancel": (X, E.CANCELLED),
        "resend": (Q, E.RESENT),
    },
    "queued_exhausted": {
        **_FINISHED_ROW,
        "fail_lost": (F, E.FAILED),
        "cancel": (X, E.CANCELLED),
        "resend": (Q, E.RESENT),
    },
    "processing": _PROCESSING_ROW,
    "processing_cancel_requested": {**_PROCESSING_ROW, "cancel": None},
    "processing_last_attempt": {**_PROCESSING_ROW, "schedule_retry": None},
    "processing_dead_lease": {
        **_PROCESSING_ROW,
        "claim": (P, E.CLAIMED),
        "expire_lease": (Q, E.LEASE_EXPIRED),
    },
    "completed": _FINISHED_ROW,
    "failed": {**_FINISHED_ROW, "redrive": (Q, E.REDRIVEN)},
    "cancelled": _FINISHED_ROW,
}


def test_the_table_covers_every_state_and_verb() -> None:
    assert set(TABLE) == set(STATES)
    assert all(set(row) == set(VERBS) for row in TABLE.values())


@pytest.mark.parametrize(
    ("state", "verb"), [(s, v) for s in STATES for v in VERBS], ids=lambda x: str(x)
)
def test_each_state_and_verb(state: str, verb: str) -> None:
    job, expected = STATES[state], TABLE[state][verb]
    if expected is None:
        with pytest.raises(IllegalTransition):
            VERBS[verb](job)
        return
    transition = VERBS[verb](job)
    after = transition.after
    status, kind = expected
    assert after.status is status
    assert after.version == job.version + 1 and transition.job is job
    if kind is None:
        assert transition.event is None
        return
    event = transition.event
    assert event is not None
    assert (event.kind, event.status, event.job_id) == (kind, status, job.job_id)
    assert (event.owner, event.job_type, event.at) == ("alice", "echo", NOW)
    assert event.attempt == after.attempt


def test_a_worker_of_an_older_attempt_can_change_nothing() -> None:
    # given a job now on attempt 2, and a worker that still holds attempt 1
    job = replace(STATES["processing"], attempt=2)
    for verb in ("heartbeat", "complete", "schedule_retry", "fail_attempt", "requeue"):
        with pytest.raises(IllegalTransition, match="attempt 1 is not current"):
            stale = {
                "heartbeat": lambda: verbs.heartbeat(job, attempt=1, now=NOW, lease_seconds=30),
                "complete": lambda: verbs.complete(job, attempt=1, now=NOW),
                "schedule_retry": lambda: verbs.schedule_retry(
                    job, attempt=1, now=NOW, error=ERROR, delay=1
                ),
                "fail_attempt": lambda: verbs.fail(job, attempt=1, now=NOW, error=ERROR),
                "requeue": lambda: verbs.requeue(job, attempt=1, now=NOW, reason="x"),
            }
            stale[verb]()


def test_moves_carry_what_they_change() -> None:
    claimed = verbs.claim(STATES["queued"], now=NOW, worker="w9", lease_seconds=30).after
    assert (claimed.attempt, claimed.lease_owner, claimed.lease_expires_at) == (1, "w9", NOW + 30)
    assert claimed.started_at == NOW
    retry = verbs.schedule_retry(STATES["processing"], attempt=1, now=NOW, error=ERROR, delay=4)
    assert retry.after.run_after == NOW + 4 and retry.after.lease_owner is None
    assert retry.event is not None and retry.event.detail["delay"] == 4
    done = verbs.complete(STATES["processing"], attempt=1, now=NOW, result=[1]).after
    assert (done.result, done.finished_at, done.progress.pct) == ([1], NOW, 100.0)
    redriven = verbs.redrive(STATES["failed"], now=NOW, extra_attempts=3).after
    assert (redriven.max_attempts, redriven.error, redriven.finished_at) == (6, None, None)
    assert verbs.submitted(BASE).kind is EventKind.SUBMITTED


def test_progress_writes_history_only_when_it_crosses_a_tenth() -> None:
    job = replace(STATES["processing"], progress=Progress(12))
    steps = [13.0, 19.9, 20.0, 20.5, 45.0, 100.0]
    kinds = []
    for pct in steps:
        moved = verbs.report_progress(job, attempt=job.attempt, now=NOW, progress=Progress(pct))
        kinds.append(None if moved.event is None else moved.event.detail["percent"])
        job = moved.after
    assert kinds == [None, None, 20.0, None, 45.0, 100.0]
