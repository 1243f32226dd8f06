"""Helpers for tests: a worker in a thread, polling until a condition holds, effect counts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobgate.bootstrap import Services
from jobgate.domain.models import Job, JobStatus
from jobgate.worker.runner import Worker


@contextmanager
def running_worker(services: Services, **options: Any) -> Iterator[Worker]:
    """A Worker polling in a background thread; stopped (with its grace period) on exit."""
    worker = Worker(
        services.executor(options.pop("worker_id", "test-worker")),
        services.backend.queue,
        concurrency=options.pop("concurrency", 4),
        poll_wait_seconds=options.pop("poll_wait_seconds", 0.2),
        heartbeat_interval=options.pop("heartbeat_interval", services.settings.heartbeat_interval),
        grace_seconds=options.pop("grace_seconds", 5.0),
        prefetch=services.settings.worker_prefetch,
        batch_window=services.settings.worker_batch_window_ms / 1000,
        group_commit=services.backend.inline_io,
    )
    assert not options, f"unknown options {options}"
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_status(services: Services, job_id: str, *statuses: JobStatus, timeout: float = 15) -> Job:
    def reached() -> Job | None:
        job = services.backend.jobs.get(job_id)
        return job if job is not None and job.status in statuses else None

    job: Job = wait_for(reached, timeout)
    return job


def effects(path: Path) -> Counter[tuple[str, str]]:
    """(job id, what) → how many times the handler recorded it."""
    if not path.exists():
        return Counter()
    lines = path.read_text().split()
    return Counter(
        (job_id, what) for job_id, _, what in zip(lines[::3], lines[1::3], lines[2::3], strict=True)
    )


def completed_events(services: Services, job_id: str) -> int:
    return sum(e.kind == "completed" for e in services.backend.jobs.events(job_id))


def provision_aws(endpoint: str, monkeypatch: Any, region: str = "us-east-1") -> Any:
    """Fresh jobgate resources in the emulator at ``endpoint``, and this process's environment
    pointed at them (child processes inherit it). Returns the resources."""
    import uuid

    import boto3

    from jobgate.aws_settings import environment_for
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision

    for name, value in {
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region, "AWS_ENDPOINT_URL": endpoint,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    empty = AwsResources(region, "", "", "", "", "", "", endpoint)
    made = provision(clients(empty, boto3.session.Session()), f"jg{uuid.uuid4().hex[:8]}", region)
    for name, value in environment_for(made).items():
        monkeypatch.setenv(name, value)
    return made


@contextmanager
def sqs_refusing_sends(queue: Any) -> Iterator[None]:
    """SQS (the emulator, for real) refuses every SendMessageBatch entry of ``queue``'s client
    while the block runs: each entry goes out with a delay SQS does not accept (over 900 s),
    which SQS answers with a ``Failed`` entry, not an error of the whole call."""
    events = queue._sqs.meta.events

    def too_late(params: dict[str, Any], **_: Any) -> None:
        for entry in params.get("Entries", []):
            entry["DelaySeconds"] = 901

    events.register("provide-client-params.sqs.SendMessageBatch", too_late)
    try:
        yield
    finally:
        events.unregister("provide-client-params.sqs.SendMessageBatch", too_late)
