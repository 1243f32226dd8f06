"""The reconciler, and schedules: one job per tick however many schedulers run."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from jobgate import bootstrap
from jobgate.bootstrap import Services
from jobgate.domain import transitions as verbs
from jobgate.domain.ids import new_id
from jobgate.domain.models import EventKind, Job, JobStatus
from jobgate.services.schedules import SCHEDULER_OWNER, ScheduleService, tick_key
from jobgate.testing.memory import ManualClock
from tests.apps import app as test_app
from tests.conftest import make_settings
from tests.support import running_worker, wait_status


def orphan(services: Services, **fields: object) -> Job:
    """A job recorded without a message, as when the process died between the two writes."""
    now = time.time()
    job = Job(
        job_id=new_id(now),
        owner="alice",
        type="echo",
        status=JobStatus.QUEUED,
        created_at=now - 3600,
        updated_at=now - 3600,
        payload={"lost": True},
    )
    job = replace(job, **fields)  # type: ignore[arg-type]
    first = verbs.event(job, EventKind.SUBMITTED, job.status, job.created_at, 0)
    services.backend.jobs.create(job, first)
    return job


def test_queued_job_without_a_message_is_resent(services: Services) -> None:
    job = orphan(services)
    report = services.reconciler.run_once()
    assert report.resent == 1
    assert services.reconciler.run_once().resent == 0  # touched: not resent again at once
    with running_worker(services):
        assert wait_status(services, job.job_id, JobStatus.COMPLETED).result == {"lost": True}


def test_dead_lease_without_a_message_is_requeued(services: Services) -> None:
    job = orphan(
        services, status=JobStatus.PROCESSING, attempt=1, lease_expires_at=time.time() - 3600
    )
    assert services.reconciler.run_once().leases_expired == 1
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.attempt == 2


def test_job_whose_message_the_queue_dead_lettered_is_failed(tmp_path: Path) -> None:
    # given a queue that dead-letters after one receive, and a job whose message hit that
    services = bootstrap.build(make_settings(tmp_path / "d", max_receives=1), test_app)
    try:
        job, _ = services.jobs.submit("alice", "echo", None)
        services.backend.queue.receive(1, 0, 0.01)  # a consumer that died without acking
        time.sleep(0.05)
        assert services.backend.queue.receive(1, 0, 30) == []  # → moved to the DLQ
        # when the reconciler runs
        report = services.reconciler.run_once()
        # then the job is failed, so nobody waits for it forever
        assert report.dead_lettered_failed == 1
        failed = services.backend.jobs.get(job.job_id)
        assert failed is not None and failed.status is JobStatus.FAILED
        assert failed.error is not None and failed.error.type == "DeadLettered"
    finally:
        services.close()


def two_schedulers(
    tmp_path: Path, clock: ManualClock
) -> tuple[list[Services], list[ScheduleService]]:
    """Two independent stacks on one data folder (as two processes would be), one clock."""
    stacks = [
        bootstrap.build(make_settings(tmp_path / "shared"), test_app, clock=clock) for _ in range(2)
    ]
    schedulers = [s.schedules for s in stacks]
    return stacks, schedulers


def scheduled_jobs(services: Services) -> list[Job]:
    return services.backend.jobs.list_jobs(SCHEDULER_OWNER, limit=200).items


def test_two_schedulers_over_one_clock_make_one_job_per_tick(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000.0)  # a whole minute
    stacks, schedulers = two_schedulers(tmp_path, clock)
    try:
        for scheduler in schedulers:
            scheduler.tick()  # first sighting: no backfill
        created = 0
        for _ in range(5):
            clock.advance(60)
            barrier = threading.Barrier(2)
            counts: list[int] = []

            def fire(s: ScheduleService, barrier: threading.Barrier, counts: list[int]) -> None:
                barrier.wait()
                counts.append(s.tick())

            threads = [threading.Thread(target=fire, args=(s, barrier, counts)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            created += sum(counts)
        jobs = scheduled_jobs(stacks[0])
        assert created == len(jobs) == 5
        expected = {tick_key("every-minute", 1_800_000_000.0 + 60 * n) for n in range(1, 6)}
        assert {j.idempotency_key for j in jobs} == expected
    finally:
        for s in stacks:
            s.close()


def test_a_gap_enqueues_the_latest_tick_and_counts_the_missed_ones(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    stacks, (scheduler, _) = two_schedulers(tmp_path, clock)
    try:
        scheduler.tick()
        clock.advance(60 * 4 + 10)  # down for four ticks
        assert scheduler.tick() == 1
        (job,) = scheduled_jobs(stacks[0])
        assert job.idempotency_key == tick_key("every-minute", 1_800_000_000.0 + 240)
        (view,) = scheduler.views()
        assert view.state.missed == 3
        assert view.next_tick == 1_800_000_000.0 + 300
    finally:
        for s in stacks:
            s.close()


def test_submit_many_answers_each_request_on_its_own(services: Services) -> None:
    from jobgate.errors import IdempotencyConflict, ValidationFailed
    from jobgate.services.jobs import SubmitRequest

    outcomes = services.jobs.submit_many(
        [
            SubmitRequest("alice", "echo", {"n": 1}, "k1"),
            SubmitRequest("alice", "nope", None),  # unknown type
            SubmitRequest("alice", "echo", {"n": 1}, "k1"),  # same key, same body: same job
            SubmitRequest("alice", "echo", {"n": 2}, "k1"),  # same key, other body: conflict
            SubmitRequest("bob", "echo", {"n": 3}),
        ]
    )
    first, unknown, replay, conflict, other = outcomes
    assert isinstance(unknown, ValidationFailed) and isinstance(conflict, IdempotencyConflict)
    assert not isinstance(first, Exception) and not isinstance(replay, Exception)
    assert not isinstance(other, Exception)
    assert replay == (first[0], False) and first[1] is True
    assert len(services.backend.jobs.list_jobs(None).items) == 2
    assert services.backend.queue.stats().depth == 2
