"""Policy stories on the in-memory backend with a clock turned by hand: retries, the dead-letter
queue, the reconciler, schedules and timeouts, step by step — no threads, no sleeps, no polling.

Each step is one delivery processed start to end (``Executor.process``); time moves only when a
story says so, so every delay and lease is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobgate import bootstrap
from jobgate.bootstrap import Services
from jobgate.domain.models import EventKind, Job, JobStatus
from jobgate.services.attempt import Disposition, Run
from jobgate.services.jobs import envelope
from jobgate.testing.memory import ManualClock, memory_backend
from tests.apps import app as test_app
from tests.conftest import make_settings

VISIBILITY = 30.0


@dataclass
class World:
    services: Services
    clock: ManualClock

    def step(self) -> Disposition | None:
        """Receive one visible message now and process it; None when nothing is visible."""
        queue = self.services.backend.queue
        deliveries = queue.receive(1, 0, VISIBILITY)
        if not deliveries:
            return None
        return self.services.executor("story").process(deliveries[0]).disposition

    def job(self, job_id: str) -> Job:
        job = self.services.backend.jobs.get(job_id)
        assert job is not None
        return job

    def kinds(self, job_id: str) -> list[str]:
        return [e.kind.value for e in self.services.backend.jobs.events(job_id)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = ManualClock()
    settings = make_settings(
        tmp_path,
        visibility_timeout=VISIBILITY,
        retry_base_seconds=10,
        retry_cap_seconds=10,  # with full jitter: every delay within [5, 10]
        stale_queued_seconds=600,
    )
    backend = memory_backend(clock, max_receives=10)
    services = bootstrap.build(settings, test_app, backend=backend, clock=clock)
    yield World(services, clock)
    services.close()


def test_a_flaky_job_is_retried_after_its_backoff_and_then_completes(world: World) -> None:
    # given a job that fails twice before it succeeds
    job, _ = world.services.jobs.submit("alice", "flaky", {"failures": 2})
    # when the first attempt fails, the message waits out the backoff
    assert world.step() is Disposition.RELEASE
    retry = world.job(job.job_id)
    assert retry.status is JobStatus.QUEUED and retry.attempt == 1
    assert retry.run_after is not None and 5 <= retry.run_after - world.clock.now <= 10
    assert world.step() is None  # nothing visible before the backoff ends
    world.clock.advance(retry.run_after - world.clock.now)
    # then the second attempt fails too, and after its backoff the third succeeds
    assert world.step() is Disposition.RELEASE
    world.clock.advance(10)
    assert world.step() is Disposition.ACK
    done = world.job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.attempt == 3
    assert done.result == {"attempt": 3}
    assert world.kinds(job.job_id) == [
        "submitted", "claimed", "retry_scheduled", "claimed", "retry_scheduled", "claimed",
        "completed",
    ]  # fmt: skip


def test_a_permanent_error_fails_at_once_and_redrive_runs_it_again(world: World) -> None:
    job, _ = world.services.jobs.submit("alice", "permanent", None)
    assert world.step() is Disposition.BURY
    failed = world.job(job.job_id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 1
    assert failed.error is not None and failed.error.retryable is False
    assert world.services.backend.queue.stats().dead_letters == 1
    # an operator redrives it: a fresh budget, and it runs (and fails) again
    assert world.services.dead_letters.redrive() == 1
    assert world.job(job.job_id).max_attempts == 1 + 3
    assert world.step() is Disposition.BURY
    assert world.job(job.job_id).attempt == 2
    assert world.kinds(job.job_id)[-3:] == ["redriven", "claimed", "failed"]


def test_a_worker_that_died_mid_job_is_taken_over_when_its_lease_ends(world: World) -> None:
    # given a job claimed by a worker that then died (no settle, no ack)
    job, _ = world.services.jobs.submit("alice", "echo", {"n": 1})
    (delivery,) = world.services.backend.queue.receive(1, 0, VISIBILITY)
    begun = world.services.executor("dead").begin(delivery)
    assert isinstance(begun, Run) and begun.job.attempt == 1
    # when the visibility timeout passes, the message comes back
    assert world.step() is None
    world.clock.advance(VISIBILITY)
    # then the next worker claims attempt 2 and completes the job
    assert world.step() is Disposition.ACK
    done = world.job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.attempt == 2


def test_the_reconciler_resends_a_lost_message_and_requeues_a_dead_lease(world: World) -> None:
    services = world.services
    # given a queued job whose message was lost, and a claimed job whose message was lost too
    lost, _ = services.jobs.submit("alice", "echo", {"lost": "message"})
    dead, _ = services.jobs.submit("alice", "echo", {"lost": "lease"})
    queue = services.backend.queue
    deliveries = queue.receive(10, 0, VISIBILITY)
    by_job = {d.body: d for d in deliveries}
    begun = services.executor("dead").begin(by_job[envelope(dead).body])
    assert isinstance(begun, Run)
    queue.ack([d.receipt for d in deliveries])
    # when not long enough has passed, nothing is repaired
    world.clock.advance(59)
    assert services.reconciler.run_once().resent == 0
    # when the queued job is older than the stale period, and the lease dead for two timeouts
    world.clock.advance(600)
    report = services.reconciler.run_once()
    assert (report.resent, report.leases_expired) == (1, 1)
    assert world.kinds(dead.job_id)[-1] == EventKind.LEASE_EXPIRED.value
    # then both run to completion
    assert world.step() is Disposition.ACK and world.step() is Disposition.ACK
    assert world.job(lost.job_id).status is JobStatus.COMPLETED
    assert world.job(dead.job_id).status is JobStatus.COMPLETED
    assert world.job(dead.job_id).attempt == 2


def test_schedules_enqueue_once_per_tick_and_count_missed_ticks(world: World) -> None:
    schedules = world.services.schedules
    world.clock.now = math.floor(world.clock.now / 60) * 60 + 1  # 1 s past a minute
    assert schedules.tick() == 0  # first sighting: counting starts now, no backfill
    world.clock.advance(30)
    assert schedules.tick() == 0  # no minute boundary yet
    world.clock.advance(30)
    assert schedules.tick() == 1  # the minute ticked: one job
    assert schedules.tick() == 0  # the same tick again: nothing new (another scheduler too)
    world.clock.advance(3 * 60)
    assert schedules.tick() == 1  # down for three minutes: only the latest tick runs
    state = world.services.backend.schedules.get_state("every-minute")
    assert state.missed == 2
    jobs = world.services.backend.jobs.list_jobs("system:scheduler").items
    assert len(jobs) == 2 and all(j.type == "echo" for j in jobs)


def test_a_timed_out_attempt_is_retried_then_failed_after_max_attempts(world: World) -> None:
    # given a job type with two attempts whose attempts overrun their time limit
    job, _ = world.services.jobs.submit("alice", "sleepy", {"seconds": 0})
    executor = world.services.executor("story")
    for attempt, expected in ((1, Disposition.RELEASE), (2, Disposition.BURY)):
        (delivery,) = world.services.backend.queue.receive(1, 0, VISIBILITY)
        run = executor.begin(delivery)
        assert isinstance(run, Run) and run.job.attempt == attempt
        # when the watchdog finds the attempt past its limit
        action = executor.expire(run)
        assert action.disposition is expected
        # and a late result from the handler changes nothing
        assert executor.settle(run, executor.run_handler(run)).disposition is Disposition.LEAVE
        world.clock.advance(10)
    # then the job failed with the timeout as its error, and the message is dead-lettered
    failed = world.job(job.job_id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 2
    assert failed.error is not None and failed.error.type == "TimeoutError"
    assert world.services.backend.queue.stats().dead_letters == 1
