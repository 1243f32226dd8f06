"""Running jobs: retries, the DLQ, duplicates, heartbeats, cancellation, timeouts, blobs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobgate import bootstrap
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from jobgate.services.jobs import envelope
from tests.apps import app as test_app
from tests.aws.test_aws_stack import aws_env  # noqa: F401 - fixture
from tests.conftest import make_settings
from tests.support import completed_events, effects, running_worker, wait_for, wait_status


@pytest.fixture(params=["local", "aws"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Every execution story on both backends (aws: moto's server over HTTP)."""
    overrides: dict[str, object] = {}
    if request.param == "aws":
        request.getfixturevalue("aws_env")
        overrides = {"backend": "aws"}
    built = bootstrap.build(make_settings(tmp_path / "data", **overrides), test_app)
    yield built
    built.close()


def test_a_job_runs_to_completion_with_its_history(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "echo", {"hello": "world"})
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.result == {"hello": "world"} and done.attempt == 1
    assert done.progress.pct == 100
    kinds = [e.kind for e in services.backend.jobs.events(job.job_id)]
    assert kinds == ["submitted", "claimed", "completed"]
    assert services.backend.queue.stats().depth == 0


def test_always_failing_job_fails_after_exactly_max_attempts_and_is_dead_lettered(
    services: Services, effects_file: Path
) -> None:
    job, _ = services.jobs.submit("alice", "fail", None)
    with running_worker(services):
        failed = wait_status(services, job.job_id, JobStatus.FAILED)
    assert failed.attempt == failed.max_attempts == 3
    assert effects(effects_file)[(job.job_id, "fail")] == 3
    assert failed.error is not None and failed.error.type == "RuntimeError"
    entries = services.dead_letters.entries()
    assert [j.job_id for _, j in entries if j] == [job.job_id]

    # redrive brings it back with a fresh budget; it runs (and fails) three more times
    assert services.dead_letters.redrive() == 1
    requeued = services.backend.jobs.get(job.job_id)
    assert requeued is not None and requeued.status is JobStatus.QUEUED
    with running_worker(services):
        again = wait_status(services, job.job_id, JobStatus.FAILED)
    assert again.attempt == 6 and effects(effects_file)[(job.job_id, "fail")] == 6
    assert "redriven" in [e.kind for e in services.backend.jobs.events(job.job_id)]


def test_permanent_error_fails_at_once(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "permanent", None)
    with running_worker(services):
        failed = wait_status(services, job.job_id, JobStatus.FAILED)
    assert failed.attempt == 1
    assert failed.error is not None and failed.error.retryable is False


def test_transient_failure_is_retried_then_completes(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "flaky", {"failures": 2})
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.result == {"attempt": 3}
    kinds = [e.kind.value for e in services.backend.jobs.events(job.job_id)]
    assert kinds.count("retry_scheduled") == 2


def test_same_message_delivered_twice_concurrently_runs_once(
    services: Services, effects_file: Path
) -> None:
    # given one job whose message two consumers receive at the same moment
    job, _ = services.jobs.submit("alice", "effect", {"seconds": 0.3})
    (delivery,) = services.backend.queue.receive(1, 0, 30)
    executors = [services.executor("w1"), services.executor("w2")]
    barrier = threading.Barrier(2)

    def consume(index: int) -> None:
        barrier.wait()
        executors[index].process(delivery)

    # when both process it
    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then the handler ran once and the job completed once
    assert effects(effects_file)[(job.job_id, "done")] == 1
    assert completed_events(services, job.job_id) == 1
    assert services.backend.jobs.get(job.job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]


def test_duplicate_message_of_a_finished_job_has_no_effect(
    services: Services, effects_file: Path
) -> None:
    job, _ = services.jobs.submit("alice", "effect", None)
    with running_worker(services):
        wait_status(services, job.job_id, JobStatus.COMPLETED)
        services.backend.queue.send([envelope(job)])  # a late duplicate copy of the message
        wait_for(
            lambda: (
                services.backend.queue.stats().depth + services.backend.queue.stats().in_flight == 0
            )
        )
    assert effects(effects_file)[(job.job_id, "done")] == 1
    assert completed_events(services, job.job_id) == 1


def test_handler_longer_than_visibility_timeout_runs_once(
    tmp_path: Path, effects_file: Path
) -> None:
    # given a 1 s visibility timeout and a handler that takes 3 s
    services = bootstrap.build(make_settings(tmp_path / "d", visibility_timeout=1.0), test_app)
    try:
        job, _ = services.jobs.submit("alice", "slow", {"seconds": 3})
        # when two workers poll the queue (a second could steal an unextended message)
        with running_worker(services, worker_id="a"), running_worker(services, worker_id="b"):
            done = wait_status(services, job.job_id, JobStatus.COMPLETED, timeout=20)
        # then heartbeats kept it hidden and leased: one start, one attempt
        assert effects(effects_file)[(job.job_id, "start")] == 1
        assert done.attempt == 1
    finally:
        services.close()


def test_cancel_before_run_never_runs(services: Services, effects_file: Path) -> None:
    job, _ = services.jobs.submit("alice", "slow", {"seconds": 0.1})
    cancelled = services.jobs.cancel("alice", job.job_id)
    assert cancelled.status is JobStatus.CANCELLED
    with running_worker(services):
        wait_for(
            lambda: (
                services.backend.queue.stats().depth + services.backend.queue.stats().in_flight == 0
            )
        )
    assert effects(effects_file) == {}
    assert services.backend.jobs.get(job.job_id).status is JobStatus.CANCELLED  # type: ignore[union-attr]


def test_cancel_while_processing_stops_the_handler(services: Services, effects_file: Path) -> None:
    job, _ = services.jobs.submit("alice", "slow", {"seconds": 20})
    with running_worker(services):
        wait_status(services, job.job_id, JobStatus.PROCESSING)
        services.jobs.cancel("alice", job.job_id)
        done = wait_status(services, job.job_id, JobStatus.CANCELLED, timeout=5)
    assert done.cancel_requested
    assert effects(effects_file)[(job.job_id, "cancelled")] == 1


def test_handler_past_its_timeout_is_retried_then_failed(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "hang", {"seconds": 1.0})
    with running_worker(services):
        failed = wait_status(services, job.job_id, JobStatus.FAILED, timeout=20)
    assert failed.attempt == 2
    assert failed.error is not None and failed.error.type == "TimeoutError"


def test_large_results_and_artifacts_go_to_blobs(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "big", {"size": 200_000})
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.result is None and done.result_ref is not None
    stored = json.loads(services.backend.blobs.get(done.result_ref.key))
    assert len(stored["blob"]) == 200_000
    assert [a.key.rsplit("/", 1)[-1] for a in done.artifacts] == ["data.bin"]
    view = services.jobs.result("alice", job.job_id)
    assert view.url is not None and view.inline is None


def test_large_payloads_travel_by_pointer(services: Services) -> None:
    payload = {"data": "y" * 300_000}
    job, _ = services.jobs.submit("alice", "echo", payload)
    assert job.payload is None and job.payload_ref is not None
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.result_ref is not None
    assert json.loads(services.backend.blobs.get(done.result_ref.key)) == payload


def test_async_handlers_run(services: Services) -> None:
    job, _ = services.jobs.submit("alice", "async_echo", [1, 2])
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.result == {"async": [1, 2]}


def test_shutdown_gives_back_unfinished_work(services: Services, effects_file: Path) -> None:
    # given a worker with no grace period running a long job (its handler has started)
    job, _ = services.jobs.submit("alice", "slow", {"seconds": 1.0})
    with running_worker(services, grace_seconds=0.0):
        wait_for(lambda: effects(effects_file)[(job.job_id, "start")] == 1)
    # then the job is queued again and its message visible at once
    released = services.backend.jobs.get(job.job_id)
    assert released is not None and released.status is JobStatus.QUEUED
    assert "released" in [e.kind for e in services.backend.jobs.events(job.job_id)]
    # and the next worker finishes it
    with running_worker(services):
        done = wait_status(services, job.job_id, JobStatus.COMPLETED)
    assert done.attempt == 2


def test_graceful_shutdown_finishes_in_flight_jobs(services: Services, effects_file: Path) -> None:
    job, _ = services.jobs.submit("alice", "slow", {"seconds": 0.5})
    with running_worker(services, grace_seconds=10.0):
        # stop once the handler runs (a batch claimed as the stop comes is handed back instead)
        wait_for(lambda: effects(effects_file)[(job.job_id, "start")] == 1)
        started = time.monotonic()
    assert services.backend.jobs.get(job.job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]
    assert time.monotonic() - started < 5


def test_stopping_a_worker_leaves_no_thread_behind(services: Services) -> None:
    # given the threads of this process before a worker starts
    before = set(threading.enumerate())
    # when a worker runs a job and is stopped
    with running_worker(services, concurrency=3):
        job, _ = services.jobs.submit("alice", "echo", {"n": 1})
        wait_status(services, job.job_id, JobStatus.COMPLETED)
    # then its pool threads, its monitor and its poll thread are all gone
    leftover = wait_for(lambda: not (set(threading.enumerate()) - before), timeout=5)
    assert leftover, [t.name for t in set(threading.enumerate()) - before]


def test_a_batch_claims_together_and_a_lost_race_is_decided_again_alone(
    services: Services,
) -> None:
    # given three queued jobs, a worker that read them, and another worker that then claims one
    # and a client that cancels another
    jobs = [services.jobs.submit("alice", "echo", n)[0] for n in range(3)]
    deliveries = services.backend.queue.receive(3, 0, 30)
    assert len(deliveries) == 3
    executor = services.executor("w1")
    read = executor.claimer.read_jobs(deliveries)
    services.executor("w2").claimer.begin(deliveries[1])
    services.jobs.cancel("alice", jobs[2].job_id)
    executor.claimer.read_jobs = lambda _: read  # type: ignore[method-assign,assignment]  # stale read
    # when the first worker claims its batch
    begun = executor.claimer.begin_many(deliveries)
    # then the untouched job is its run, and the others are decided again on what is stored:
    # a live lease elsewhere (the message comes back later), a finished job (acked)
    by_job = {d.message_id: b for d, b in zip(deliveries, begun, strict=True)}
    ids = {d.message_id: d for d in deliveries}
    outcomes = {
        json.loads(ids[m].body)["job_id"]: type(b).__name__ + ":" + getattr(b, "disposition", "")
        for m, b in by_job.items()
    }
    assert outcomes[jobs[0].job_id] == "Run:"
    assert outcomes[jobs[1].job_id] == "MessageAction:release"
    assert outcomes[jobs[2].job_id] == "MessageAction:ack"
    claimed = services.backend.jobs.get(jobs[0].job_id)
    assert claimed is not None and claimed.lease_owner == "w1" and claimed.attempt == 1


def test_runs_settled_together_survive_a_concurrent_write(services: Services) -> None:
    # given two claimed runs, and a cancel request the first run's copy has not seen
    for n in range(2):
        services.jobs.submit("alice", "echo", n)
    deliveries = services.backend.queue.receive(2, 0, 30)
    executor = services.executor("w1")
    runs = executor.begin_many(deliveries)
    assert len(runs) == 2
    services.jobs.cancel("alice", runs[0].job.job_id)  # processing: cancel requested
    # when both finish and are settled together
    from jobgate.services.attempt import Outcome

    executor.finish_many([(run, Outcome(result={"ok": n})) for n, run in enumerate(runs)])
    # then the one whose write met the cancel is decided again on the stored job, as a lone
    # settle would be (the handler finished: completed), and the other completed at once
    for n, run in enumerate(runs):
        stored = services.backend.jobs.get(run.job.job_id)
        assert stored is not None and stored.status is JobStatus.COMPLETED
        assert stored.result == {"ok": n}
        kinds = [e.kind.value for e in services.backend.jobs.events(run.job.job_id)]
        assert kinds[0] == "submitted" and kinds[-1] == "completed"
    assert services.backend.queue.stats().in_flight == 0  # both messages acked
