"""Reading the jobs table's stream across a shard split, which moto's one-shard streams never
make: a child shard is read only after its parent is read to its end, positions move record
by record, and a shard trimmed away leaves the positions. The DynamoDB Streams API is played
by a small in-memory stand-in (what it returns is what AWS documents)."""

from __future__ import annotations

from typing import Any

from jobgate.backends.aws.stream import DONE, JobStream, appended_events


def _record(seq: str, job_id: str, before: int, after: int) -> dict[str, Any]:
    def image(n: int) -> dict[str, Any]:
        history = [
            {"S": f'{{"id": "{job_id}-{k}", "kind": "submitted", "status": "queued", '
                  f'"attempt": 0, "at": 1.0, "detail": {{}}}}'}
            for k in range(n)
        ]  # fmt: skip
        return {
            "job_id": {"S": job_id}, "owner": {"S": "alice"}, "type": {"S": "echo"},
            "status": {"S": "queued"}, "history": {"L": history},
        }  # fmt: skip

    change: dict[str, Any] = {"SequenceNumber": seq, "NewImage": image(after)}
    if before:
        change["OldImage"] = image(before)
    return {"eventName": "MODIFY" if before else "INSERT", "dynamodb": change}


class _Streams:
    """Shards ``parent`` (closed: its last page has no next iterator) and ``child``."""

    def __init__(self) -> None:
        self.records = {
            "parent": [_record("1", "a", 0, 1), _record("2", "a", 1, 2)],
            "child": [_record("3", "b", 0, 1)],
        }
        self.closed = {"parent"}
        self.shards = ["parent", "child"]

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        shards = [{"ShardId": s, **({"ParentShardId": "parent"} if s == "child" else {})}
                  for s in self.shards]  # fmt: skip
        return {"StreamDescription": {"Shards": shards}}

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        return {"ShardIterator": f"{request['ShardId']}|{request.get('SequenceNumber', '')}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, after = ShardIterator.split("|")
        found = [r for r in self.records[shard] if r["dynamodb"]["SequenceNumber"] > after]
        last = found[-1]["dynamodb"]["SequenceNumber"] if found else after
        following = None if shard in self.closed else f"{shard}|{last}"
        return {"Records": found, "NextShardIterator": following}


def test_a_child_shard_waits_for_its_parent_and_positions_move() -> None:
    streams = _Streams()
    stream = JobStream(streams, "arn:stream")
    # the parent first (the child waits), one record at a time when the limit says so
    first = stream.read({}, 1, lambda e: True)
    assert [e.event_id for e in first.events] == ["a-0"]
    assert first.positions == {"parent": "1"}
    second = stream.read(first.positions, 10, lambda e: True)
    assert [e.event_id for e in second.events] == ["a-1", "b-0"]  # the write's new event only
    assert second.positions == {"parent": DONE, "child": "3"}
    # nothing new: the same positions, no events
    again = stream.read(second.positions, 10, lambda e: True)
    assert again.events == [] and again.positions == second.positions
    # the parent trimmed away (24 h): its position is dropped, the child goes on
    streams.shards = ["child"]
    stream._described = 0.0  # (the shard list is re-read at most once a minute)
    assert stream.read(second.positions, 10, lambda e: True).positions == {"child": "3"}


def test_records_that_append_nothing_or_are_not_jobs_make_no_event() -> None:
    heartbeat = _record("9", "c", 2, 2)
    assert appended_events(heartbeat) == []
    key = {"eventName": "INSERT", "dynamodb": {"NewImage": {"job_id": {"S": "idem#x"}}}}
    assert appended_events(key) == []
    assert appended_events({"eventName": "REMOVE", "dynamodb": {}}) == []
