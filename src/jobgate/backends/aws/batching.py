"""``Backend.atomic()`` on AWS: group the writes that may wait into batch calls.

DynamoDB and SQS have no transaction spanning a claim of ten jobs, so ``atomic()`` cannot mean
all-or-nothing here. What it can do is cut calls: inside the scope, job history events are
collected and written with ``BatchWriteItem`` (25 per call) and message deletes with
``DeleteMessageBatch`` (10 per call) when the outermost scope ends. Transitions themselves
(conditional updates) still happen at once, so every compare-and-set keeps its meaning.

Why waiting is safe: an event records a transition that has already been stored, and a message
is deleted only after its job's state was stored — both orders are the same as without the
scope, only later. A crash before the flush loses history lines (as a crash between a
transition and its event always could) and leaves messages whose next delivery finds the job
finished and acks it. Scopes are per thread: worker threads batch their own work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog

from jobgate.backends.aws.errors import translated

_EVENTS_PER_CALL = 25  # BatchWriteItem's limit
_ROUNDS = 5  # BatchWriteItem may leave items unprocessed under throttling: retry them

log = structlog.get_logger("jobgate.aws")


class WriteBehind:
    """Per-thread buffers of event puts and message deletes, flushed at the outermost exit."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._delete: Callable[[Sequence[str]], None] | None = None
        self._local = threading.local()

    def deletes_with(self, delete: Callable[[Sequence[str]], None]) -> None:
        """How kept acks are sent at the flush (the queue adapter registers itself)."""
        self._delete = delete

    @property
    def active(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def put_event(self, put: dict[str, Any]) -> None:
        """Keep ``put`` (a ``PutItem`` request) for the flush; the caller checked :attr:`active`."""
        self._local.events.append(put)

    def ack(self, receipts: Sequence[str]) -> None:
        self._local.acks.extend(receipts)

    @contextmanager
    def scope(self) -> Iterator[None]:
        local = self._local
        if getattr(local, "depth", 0) == 0:
            local.events, local.acks = [], []
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                events, acks = local.events, local.acks
                local.events, local.acks = [], []
                # Even when the block raised: the transitions these record were stored.
                self._write_events(events)
                if acks and self._delete is not None:
                    self._delete(acks)

    def _write_events(self, puts: list[dict[str, Any]]) -> None:
        for start in range(0, len(puts), _EVENTS_PER_CALL):
            chunk = puts[start : start + _EVENTS_PER_CALL]
            requests: dict[str, list[dict[str, Any]]] = {}
            for put in chunk:
                request = {"PutRequest": {"Item": put["Item"]}}
                requests.setdefault(put["TableName"], []).append(request)
            try:
                for attempt in range(_ROUNDS):
                    with translated("append events"):
                        answer = self._db.batch_write_item(RequestItems=requests)
                    requests = answer.get("UnprocessedItems") or {}
                    if not requests:
                        break
                    time.sleep(0.05 * 2**attempt)
                else:
                    raise RuntimeError(f"{sum(map(len, requests.values()))} events unprocessed")
            except Exception as exc:
                # History only: the jobs' states are stored; say loudly what was lost.
                log.error("events_not_written", count=len(chunk), error=str(exc))
