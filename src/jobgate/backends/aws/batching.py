"""``Backend.atomic()`` on AWS: message deletes wait for the scope's end and go in batches.

DynamoDB and SQS have no transaction spanning a claim of ten jobs, so ``atomic()`` cannot mean
all-or-nothing here; each transition is its own conditional write, with its history line in it.
What the scope can do is cut calls: acks made inside it are sent with ``DeleteMessageBatch``
(10 per call) when the outermost scope ends.

Why waiting is safe: a message is deleted only after its job's state was stored, in the same
order as without the scope, only later. A crash before the flush leaves messages whose next
delivery finds the job finished and acks it. Scopes are per thread: worker threads batch their
own work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


class AckBatcher:
    """Per-thread buffer of message deletes, flushed when the outermost scope exits."""

    def __init__(self, delete: Callable[[Sequence[str]], None]) -> None:
        self._delete = delete
        self._local = threading.local()

    @property
    def active(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def ack(self, receipts: Sequence[str]) -> None:
        """Keep ``receipts`` for the flush; the caller checked :attr:`active`."""
        self._local.acks.extend(receipts)

    @contextmanager
    def scope(self) -> Iterator[None]:
        local = self._local
        if getattr(local, "depth", 0) == 0:
            local.acks = []
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                acks, local.acks = local.acks, []
                # Even when the block raised: the jobs these messages belong to are settled.
                if acks:
                    self._delete(acks)
