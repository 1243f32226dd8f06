"""The jobs table's DynamoDB stream, read as the events each committed write appended.
Translation only.

The table streams ``NEW_AND_OLD_IMAGES``: a record holds the item before and after a write, so
the events a write appended are the new image's ``history`` past the old one's length. The
stream has exactly the committed writes, in commit order per item, for 24 hours; a write that
appends nothing (a heartbeat) is a record with no events.

A stream is a set of shards: each is read in order, and a shard's children (after a split)
only once the parent is read to its end. A :class:`Position` per shard (the last sequence number
processed, or the end) is what the dispatcher checkpoints; :meth:`JobStream.read` takes the
positions and returns the records after them, with the positions they lead to. Shard iterators
are kept between reads (they live 15 minutes) so a steady reader pays one ``GetRecords`` per
open shard per pass; one that expired is fetched again from the position.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobgate.backends.aws.errors import code, translated
from jobgate.backends.aws.items import from_item
from jobgate.domain.models import JobEvent
from jobgate.logs import get_logger

DONE = "done"  # the position of a shard read to its end
_SHARDS_FOR = 60.0  # seconds a shard list is reused before it is described again
_RECORDS_PER_CALL = 1000  # GetRecords' maximum
_STALE = ("ExpiredIteratorException",)  # an iterator past its 15 minutes


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one read found: the events (in stream order), and each shard's new position."""

    events: list[JobEvent]
    positions: dict[str, str]


class JobStream:
    def __init__(self, streams: Any, stream_arn: str) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._shards: list[Shard] = []
        self._described = 0.0
        # shard → (the position its iterator starts after, the iterator)
        self._iterators: dict[str, tuple[str | None, str]] = {}

    def shards(self) -> list[Shard]:
        """The stream's shards, parents before children (described at most once a minute)."""
        if time.monotonic() - self._described < _SHARDS_FOR and self._shards:
            return self._shards
        found: list[Shard] = []
        request: dict[str, Any] = {"StreamArn": self._arn}
        while True:
            with translated("describe the jobs stream"):
                answer = self._streams.describe_stream(**request)["StreamDescription"]
            found += [Shard(s["ShardId"], s.get("ParentShardId")) for s in answer["Shards"]]
            last = answer.get("LastEvaluatedShardId")
            if not last:
                break
            request["ExclusiveStartShardId"] = last
        self._shards, self._described = _parents_first(found), time.monotonic()
        return self._shards

    def read(
        self, positions: dict[str, str], limit: int, keep: Callable[[JobEvent], bool]
    ) -> Batch:
        """Up to ``limit`` events that ``keep`` accepts, after ``positions`` (shard → last
        sequence number read, or :data:`DONE`; a shard missing from it is read from its
        start). Shards whose parent is listed and not done wait for it."""
        listed = self.shards()
        known = {s.shard_id for s in listed}
        moved = dict(positions)
        events: list[JobEvent] = []
        for shard in listed:
            if len(events) >= limit:
                break
            if moved.get(shard.shard_id) == DONE:
                continue
            if shard.parent in known and moved.get(shard.parent) != DONE:
                continue  # its parent's records come first
            after = moved.get(shard.shard_id)
            found, position = self._read_shard(shard.shard_id, after)
            for count, (seq, appended) in enumerate(found, 1):
                events += [e for e in appended if keep(e)]
                moved[shard.shard_id] = seq
                if len(events) >= limit and count < len(found):
                    # stopped inside what was read: the next read starts after this record
                    self._iterators.pop(shard.shard_id, None)
                    position = seq
                    break
            if position == DONE:
                moved[shard.shard_id] = DONE
        # a shard trimmed away (24 h) is no longer listed: its position is dropped
        return Batch(events, {k: v for k, v in moved.items() if k in known})

    def forget(self) -> None:
        """Drop the kept iterators (the positions moved elsewhere: another reader)."""
        self._iterators.clear()

    def _read_shard(
        self, shard_id: str, after: str | None
    ) -> tuple[list[tuple[str, list[JobEvent]]], str | None]:
        from botocore.exceptions import ClientError

        iterator = self._iterator(shard_id, after)
        try:
            with translated("read the jobs stream"):
                try:
                    answer = self._streams.get_records(
                        ShardIterator=iterator, Limit=_RECORDS_PER_CALL
                    )
                except ClientError as exc:
                    if code(exc) in _STALE:  # the next pass starts again from the position
                        self._iterators.pop(shard_id, None)
                        return [], after
                    raise
        except Exception:
            self._iterators.pop(shard_id, None)
            raise
        found = [(r["dynamodb"]["SequenceNumber"], appended_events(r)) for r in answer["Records"]]
        last = found[-1][0] if found else after
        following = answer.get("NextShardIterator")
        if following is None:  # a closed shard, read to its end
            self._iterators.pop(shard_id, None)
            return found, DONE
        self._iterators[shard_id] = (last, following)
        return found, last

    def _iterator(self, shard_id: str, after: str | None) -> str:
        kept = self._iterators.get(shard_id)
        if kept is not None and kept[0] == after:
            return kept[1]
        from botocore.exceptions import ClientError

        request: dict[str, Any] = {
            "StreamArn": self._arn,
            "ShardId": shard_id,
            "ShardIteratorType": "TRIM_HORIZON",
        }
        if after is not None:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        with translated("read the jobs stream"):
            try:
                return str(self._streams.get_shard_iterator(**request)["ShardIterator"])
            except ClientError as exc:
                if after is None or code(exc) != "TrimmedDataAccessException":
                    raise
            # the position is older than the stream keeps (24 h): what is left, from its start
            get_logger(component="notifier").error("stream_position_trimmed", shard=shard_id)
            request.pop("SequenceNumber")
            request["ShardIteratorType"] = "TRIM_HORIZON"
            return str(self._streams.get_shard_iterator(**request)["ShardIterator"])


def appended_events(record: dict[str, Any]) -> list[JobEvent]:
    """The events one stream record's write appended to a job's history (none for items that
    are not jobs, and for deletes)."""
    from jobgate.backends.aws.jobs import events_of

    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return []
    change = record["dynamodb"]
    new = from_item(change.get("NewImage") or {})
    if "owner" not in new:
        return []  # an idempotency key or a schedule's state
    before = len(from_item(change.get("OldImage") or {}).get("history") or [])
    return events_of(new)[before:]


def _parents_first(shards: list[Shard]) -> list[Shard]:
    by_id = {s.shard_id: s for s in shards}
    ordered: list[Shard] = []
    placed: set[str] = set()

    def place(shard: Shard) -> None:
        if shard.shard_id in placed:
            return
        if shard.parent in by_id:
            place(by_id[shard.parent])
        placed.add(shard.shard_id)
        ordered.append(shard)

    for shard in shards:
        place(shard)
    return ordered
