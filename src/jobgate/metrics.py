"""Job metrics: one set of names on every runtime, made from the committed transitions.

    jobgate_jobs_submitted_total{job_type}      jobgate_job_run_seconds{job_type}  (histogram)
    jobgate_jobs_started_total{job_type}        jobgate_job_queue_wait_seconds{job_type}
    jobgate_jobs_completed_total{job_type}      jobgate_queue_depth, jobgate_dlq_depth,
    jobgate_jobs_failed_total{job_type}         jobgate_oldest_queued_age_seconds  (gauges)
    jobgate_jobs_retried_total{job_type}        jobgate_notices_total{channel, outcome}

:class:`MeteredJobStore` wraps the backend's job store and tells :class:`JobMetrics` of every
transition that committed (a conflict counts nothing). Where they go is a :class:`Sink`:

* long-running processes (``serve``, ``api``, ``worker``): :class:`PrometheusSink`, read by
  ``GET /metrics`` (and by the worker's health port), with the queue gauges read at scrape time;
* Lambda: :class:`EmfSink`, CloudWatch Embedded Metric Format lines printed at the end of each
  invocation (CloudWatch turns them into metrics under the ``jobgate`` namespace; the names
  there drop the ``jobgate_`` prefix and ``_total``; namespace ``JOBGATE_METRICS_NAMESPACE``,
  which Terraform sets to ``jobgate/<prefix>``).

Neither sink is imported on a path that does not use it (prometheus_client costs ~100 ms).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from jobgate.domain.models import EventKind, Job, JobEvent, QueueStats
from jobgate.domain.transitions import Transition
from jobgate.errors import TransitionConflict

#: counters by the event that moves them
COUNTED = {
    EventKind.SUBMITTED: "jobs_submitted",
    EventKind.CLAIMED: "jobs_started",
    EventKind.COMPLETED: "jobs_completed",
    EventKind.FAILED: "jobs_failed",
    EventKind.RETRY_SCHEDULED: "jobs_retried",
}
_ENDS = (EventKind.COMPLETED, EventKind.FAILED, EventKind.RETRY_SCHEDULED)
RUN_SECONDS = "job_run_seconds"
QUEUE_WAIT_SECONDS = "job_queue_wait_seconds"
NOTICES = "notices"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class Sink(Protocol):
    def count(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None: ...

    def observe(self, name: str, labels: dict[str, str], value: float) -> None: ...


class JobMetrics:
    """What a committed transition means in metrics."""

    def __init__(self, sink: Sink, clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self._clock = clock

    def transitioned(self, before: Job, event: JobEvent | None) -> None:
        if event is None:
            return
        labels = {"job_type": event.job_type}
        name = COUNTED.get(event.kind)
        if name is not None:
            self.sink.count(name, labels)
        if event.kind is EventKind.CLAIMED:
            ready = max(before.created_at, before.run_after or 0.0)
            self.sink.observe(QUEUE_WAIT_SECONDS, labels, max(0.0, event.at - ready))
        elif event.kind in _ENDS and before.started_at is not None:
            self.sink.observe(RUN_SECONDS, labels, max(0.0, event.at - before.started_at))

    def notice(self, channel: str, ok: bool) -> None:
        self.sink.count(NOTICES, {"channel": channel, "outcome": "sent" if ok else "failed"})

    def exposition(self) -> Callable[[], bytes] | None:
        """What renders the Prometheus text, or None where metrics leave as EMF (Lambda)."""
        return self.sink.text if isinstance(self.sink, PrometheusSink) else None

    def flush(self) -> None:
        """Print an invocation's EMF lines (a no-op for a Prometheus registry)."""
        if isinstance(self.sink, EmfSink):
            self.sink.flush()


class MeteredJobStore:
    """A :class:`~jobgate.ports.JobStore` that tells :class:`JobMetrics` of what committed;
    every other call goes to the store it wraps."""

    def __init__(self, store: Any, metrics: JobMetrics) -> None:
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        stored, created = self._store.create(job, event)
        if created:
            self._metrics.transitioned(job, event)
        return stored, created

    def create_many(self, items: Sequence[tuple[Job, JobEvent]]) -> list[tuple[Job, bool]]:
        made: list[tuple[Job, bool]] = self._store.create_many(items)
        for (job, event), (_, created) in zip(items, made, strict=True):
            if created:
                self._metrics.transitioned(job, event)
        return made

    def transition_many(self, transitions: Sequence[Transition]) -> list[Job | TransitionConflict]:
        results: list[Job | TransitionConflict] = self._store.transition_many(transitions)
        for transition, result in zip(transitions, results, strict=True):
            if not isinstance(result, TransitionConflict):
                self._metrics.transitioned(transition.job, transition.event)
        return results

    def transition(self, transition: Transition) -> Job:
        after: Job = self._store.transition(transition)
        self._metrics.transitioned(transition.job, transition.event)
        return after


# -- Prometheus -----------------------------------------------------------------------------------


class PrometheusSink:
    """Counters and histograms in a registry of their own; ``text()`` is the exposition."""

    def __init__(self, queue_stats: Callable[[], QueueStats] | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        counters = {**{n: ("job_type",) for n in COUNTED.values()}, NOTICES: ("channel", "outcome")}
        self._counters = {
            name: Counter(f"jobgate_{name}", _HELP[name], labels, registry=self.registry)
            for name, labels in counters.items()
        }
        self._histograms = {
            name: Histogram(
                f"jobgate_{name}",
                _HELP[name],
                ("job_type",),
                buckets=BUCKETS,
                registry=self.registry,
            )
            for name in (RUN_SECONDS, QUEUE_WAIT_SECONDS)
        }
        if queue_stats is not None:
            self.registry.register(_QueueCollector(queue_stats))
        # labels(...) builds and looks up a key under a lock on every call: keep the children
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def _child(self, family: Any, name: str, labels: dict[str, str]) -> Any:
        key = (name, tuple(labels.items()))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(**labels)
        return child

    def count(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
        self._child(self._counters[name], name, labels).inc(amount)

    def observe(self, name: str, labels: dict[str, str], value: float) -> None:
        self._child(self._histograms[name], name, labels).observe(value)

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _QueueCollector:
    """Queue gauges, read from the queue when scraped (so every process reports the truth)."""

    def __init__(self, stats: Callable[[], QueueStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            stats = self._stats()
        except Exception:  # a scrape while the backend is down: no gauges, not a 500
            return []
        gauges = (
            ("jobgate_queue_depth", "Messages ready in the queue.", stats.depth),
            ("jobgate_queue_in_flight", "Messages being worked on.", stats.in_flight),
            ("jobgate_dlq_depth", "Messages in the dead-letter queue.", stats.dead_letters),
            ("jobgate_oldest_queued_age_seconds", "Age of the oldest ready message.",
             stats.oldest_age_seconds),
        )  # fmt: skip
        return [GaugeMetricFamily(name, text, value=value) for name, text, value in gauges]

    def describe(self) -> Iterable[Any]:
        return []


_HELP = {
    "jobs_submitted": "Jobs submitted.",
    "jobs_started": "Attempts started (a job claimed by a worker).",
    "jobs_completed": "Jobs completed.",
    "jobs_failed": "Jobs failed for good (attempts spent, or a permanent error).",
    "jobs_retried": "Attempts that failed and were scheduled again.",
    NOTICES: "Notice delivery attempts, by channel and outcome.",
    RUN_SECONDS: "Seconds an attempt ran, from claim to its end.",
    QUEUE_WAIT_SECONDS: "Seconds a job waited, from ready to claimed.",
}


# -- CloudWatch Embedded Metric Format ------------------------------------------------------------


class EmfSink:
    """Buffers one invocation's metrics; ``flush()`` prints them as EMF lines (one per label
    set) to stdout, where the Lambda runtime hands them to CloudWatch Logs."""

    def __init__(
        self, namespace: str = "jobgate", out: Callable[[str], None] | None = None
    ) -> None:
        self.namespace = namespace
        self._lock = threading.Lock()
        self._counts: dict[tuple[tuple[str, str], ...], dict[str, float]] = defaultdict(dict)
        self._values: dict[tuple[tuple[str, str], ...], dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._out = out or (lambda line: print(line, file=sys.stdout, flush=True))

    def count(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counts[key][name] = self._counts[key].get(name, 0.0) + amount

    def observe(self, name: str, labels: dict[str, str], value: float) -> None:
        with self._lock:
            self._values[tuple(sorted(labels.items()))][name].append(round(value, 6))

    def flush(self) -> list[dict[str, Any]]:
        """Print (and return) the buffered metrics as EMF documents; the buffer empties."""
        with self._lock:
            counts, values = dict(self._counts), {k: dict(v) for k, v in self._values.items()}
            self._counts.clear()
            self._values.clear()
        documents = []
        for key in sorted(set(counts) | set(values)):
            named: dict[str, Sequence[float]] = dict(values.get(key, {}))
            document = emf_document(self.namespace, dict(key), counts.get(key, {}), named)
            documents.append(document)
            self._out(json.dumps(document, separators=(",", ":")))
        return documents


def emf_document(
    namespace: str,
    dimensions: dict[str, str],
    counts: dict[str, float],
    values: dict[str, Sequence[float]],
) -> dict[str, Any]:
    """One EMF document: the dimensions as members, each metric a member (a list for several
    values), declared under ``_aws.CloudWatchMetrics`` twice over: per label set (job type)
    and with no dimension at all (the totals the alarms watch)."""
    metrics = [{"Name": n, "Unit": "Count"} for n in sorted(counts)]
    metrics += [{"Name": n, "Unit": "Seconds"} for n in sorted(values)]
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions), []],
                    "Metrics": metrics,
                }
            ],
        },
        **dimensions,
        **counts,
        **{n: list(v) for n, v in values.items()},
    }
