"""The job ledger on DynamoDB. Translation only: policy lives in services.

The jobs table (name from settings; Terraform creates it) has partition key ``job_id`` and:

* ``history``: the job's events, a list appended to **in the same conditional write** as the
  state change each one records (``list_append``), so no crash can separate the two. One
  request per transition, and its write units are the item's size: cheaper than a transaction
  (which bills both items twice) or a second PutItem.
* No index key is one hot value. DynamoDB gives a partition ~1,000 write units a second, and a
  time-ordered sort key defeats its split-for-heat, so every index's partition key is sharded by
  the job id's random tail, and a read merges the shards' streams:

  * GSI ``owner-index`` (``owner_shard`` = ``<owner>#<n>`` of :data:`OWNER_SHARDS`, ``job_id``:
    ULIDs sort by time; keys only, written once per job) lists an owner's jobs newest first.
  * GSI ``status-index`` (``status_shard`` = ``<status>#<n>`` of :data:`STATUS_SHARDS`,
    ``updated_at``; keys and ``lease_expires_at``) feeds the reconciler. Sparse: only
    ``queued`` and ``processing`` jobs are in it (the statuses it asks about), so a finished
    job costs the index nothing more and the index holds only the jobs in flight.
  * GSI ``listing-index`` (``listing`` of :data:`LISTING_SHARDS`, ``job_id``, keys only) lists
    every owner's jobs for the admin.

  ``bench/capacity.py`` models the rates these take against the partitions' limits.
* Notifications read the table's stream (:mod:`.stream`, ``NEW_AND_OLD_IMAGES``): the events
  a write appended are its new history past the old. No write pays anything for them.
* Idempotency items (``idem#<sha256(owner, key)>``, so keys of two owners never collide) and
  schedule state (``schedule#<name>``, :mod:`.schedules`) live in the same table; they carry no
  ``owner``/``status``/``listing``, so the indexes stay sparse.

A failed condition is answered with the stored item (``ReturnValuesOnConditionCheckFailure``),
so the caller learns the current job without another read.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobgate.backends.aws.errors import ConditionFailed, code, translated
from jobgate.backends.aws.items import from_item, to_attr, to_item
from jobgate.backends.fields import change_fields, decode_cursor, dumps, job_fields, page_of
from jobgate.backends.fields import job_from_fields as _job_from_fields
from jobgate.domain.models import EventKind, Job, JobEvent, JobStatus, Page
from jobgate.domain.transitions import Transition
from jobgate.errors import TransitionConflict
from jobgate.ports import transition_each

if TYPE_CHECKING:  # the published stubs (dev extra); nothing at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

OWNER_SHARDS = 8
STATUS_SHARDS = 32
LISTING_SHARDS = 16
INDEXED_STATUSES = (JobStatus.QUEUED, JobStatus.PROCESSING)
_GETS_PER_CALL = 100  # BatchGetItem's limit
_WRITES_PER_CALL = 25  # BatchWriteItem's
_TRANSACTION_ITEMS = 100  # TransactWriteItems'
_TRANSACTION_ROUNDS = 3
_BATCH_ROUNDS = 5  # BatchGetItem/BatchWriteItem calls for what DynamoDB left unprocessed


def idempotency_item_key(owner: str, key: str) -> str:
    digest = hashlib.sha256(f"{owner}\x00{key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"idem#{digest}"


def _shard(job_id: str, shards: int) -> int:
    """A job's shard of ``shards``: from the id's random tail, so evenly spread."""
    return int.from_bytes(job_id[-6:].encode(), "big") % shards


def listing_shard(job_id: str) -> str:
    """The admin listing's partition for a job."""
    return f"jobs#{_shard(job_id, LISTING_SHARDS)}"


def owner_shard(owner: str, job_id: str) -> str:
    """The owner index's partition for a job: one of the owner's :data:`OWNER_SHARDS`."""
    return f"{owner}#{_shard(job_id, OWNER_SHARDS)}"


def status_shard(status: JobStatus, job_id: str) -> str | None:
    """The status index's partition for a job in ``status``; None (out of the index) for the
    statuses the reconciler never asks about."""
    if status not in INDEXED_STATUSES:
        return None
    return f"{status.value}#{_shard(job_id, STATUS_SHARDS)}"


def _history_entry(event: JobEvent) -> str:
    """One ``history`` element: the event less what the job item already holds."""
    return dumps(
        {
            "id": event.event_id,
            "kind": event.kind.value,
            "status": event.status.value,
            "attempt": event.attempt,
            "at": event.at,
            "detail": event.detail,
        }
    )


def events_of(item: Mapping[str, Any]) -> list[JobEvent]:
    """A job item's history as events."""
    events = []
    for text in item.get("history") or []:
        entry = json.loads(text)
        events.append(
            JobEvent(
                event_id=entry["id"],
                job_id=item["job_id"],
                owner=item["owner"],
                job_type=item["type"],
                kind=EventKind(entry["kind"]),
                status=JobStatus(entry["status"]),
                attempt=int(entry["attempt"]),
                at=float(entry["at"]),
                detail=entry["detail"],
            )
        )
    return events


def _job(item: Mapping[str, Any] | None) -> Job | None:
    """The job an item holds; None for no item or one that is not a job (idempotency key)."""
    return None if item is None or "owner" not in item else _job_from_fields(item)


class DynamoJobStore:
    """:class:`~jobgate.ports.JobStore` on DynamoDB."""

    def __init__(self, client: DynamoDBClient, jobs_table: str) -> None:
        self._db = client
        self._jobs = jobs_table

    def _new_item(self, job: Job, event: JobEvent) -> dict[str, Any]:
        return to_item(
            {
                **job_fields(job),
                "owner_shard": owner_shard(job.owner, job.job_id),
                "status_shard": status_shard(job.status, job.job_id),
                "listing": listing_shard(job.job_id),
                "history": [_history_entry(event)],
            }
        )

    def create_many(self, items: Sequence[tuple[Job, JobEvent]]) -> list[tuple[Job, bool]]:
        """Jobs without an idempotency key go in ``BatchWriteItem`` calls of 25: a put there
        takes no condition, and needs none, as a new job's id is a fresh ULID (80 random bits);
        keyed ones take :meth:`create`'s transaction each."""
        made: list[tuple[Job, bool] | None] = [None] * len(items)
        plain = []
        for n, (job, event) in enumerate(items):
            if job.idempotency_key is None:
                plain.append(n)
            else:
                made[n] = self.create(job, event)
        for start in range(0, len(plain), _WRITES_PER_CALL):
            chunk = plain[start : start + _WRITES_PER_CALL]
            request: dict[str, Any] = {
                self._jobs: [{"PutRequest": {"Item": self._new_item(*items[n])}} for n in chunk]
            }
            for _ in range(_BATCH_ROUNDS):
                with translated("create jobs"):
                    answer = self._db.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
            else:  # throttled throughout: the rest one by one, with the usual condition
                for put in request.get(self._jobs, []):
                    with translated("create job"):
                        self._db.put_item(
                            TableName=self._jobs,
                            Item=put["PutRequest"]["Item"],
                            ConditionExpression="attribute_not_exists(job_id)",
                        )
            for n in chunk:
                made[n] = (items[n][0], True)
        return [m for m in made if m is not None]

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        put: PutTypeDef = {
            "TableName": self._jobs,
            "Item": self._new_item(job, event),
            "ConditionExpression": "attribute_not_exists(job_id)",
        }
        if job.idempotency_key is None:
            with translated("create job"):
                self._db.put_item(**put)
            return job, True
        marker: PutTypeDef = {
            "TableName": self._jobs,
            "Item": to_item(
                {
                    "job_id": idempotency_item_key(job.owner, job.idempotency_key),
                    "target_job_id": job.job_id,
                }
            ),
            "ConditionExpression": "attribute_not_exists(job_id)",
        }
        try:
            # The key's item and the job together: a key never points at a job that is not
            # there, and a job never exists twice for one key.
            with translated("create job"):
                self._db.transact_write_items(TransactItems=[{"Put": marker}, {"Put": put}])
        except ConditionFailed:
            existing = self._existing_for_key(job.owner, job.idempotency_key)
            if existing is None:
                raise
            return existing, False
        return job, True

    def _existing_for_key(self, owner: str, key: str) -> Job | None:
        with translated("read idempotency key"):
            found = self._db.get_item(
                TableName=self._jobs,
                Key={"job_id": {"S": idempotency_item_key(owner, key)}},
                ConsistentRead=True,
            ).get("Item")
        return self.get(from_item(found)["target_job_id"]) if found else None

    def withdraw(self, job: Job) -> None:
        deletes: list[TransactWriteItemTypeDef] = [
            {
                "Delete": {
                    "TableName": self._jobs,
                    "Key": {"job_id": {"S": job.job_id}},
                    "ConditionExpression": "#version = :one",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
        ]
        if job.idempotency_key is not None:
            marker = idempotency_item_key(job.owner, job.idempotency_key)
            deletes.append({"Delete": {"TableName": self._jobs, "Key": {"job_id": {"S": marker}}}})
        with contextlib.suppress(ConditionFailed), translated("withdraw job"):
            self._db.transact_write_items(TransactItems=deletes)  # moved on: it stays

    def get(self, job_id: str) -> Job | None:
        with translated("get job"):
            item = self._db.get_item(
                TableName=self._jobs, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            ).get("Item")
        return _job(None if item is None else from_item(item))

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        found: dict[str, Job] = {}
        for item in self._read_items(job_ids):
            job = _job(item)
            if job is not None:
                found[job.job_id] = job
        return found

    def _read_items(self, job_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The stored items (decoded) of ``job_ids`` that exist, in no particular order."""
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), _GETS_PER_CALL):
            keys = [{"job_id": {"S": i}} for i in unique[start : start + _GETS_PER_CALL]]
            request: dict[str, Any] = {self._jobs: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(_BATCH_ROUNDS):
                with translated("get jobs"):
                    answer = self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._jobs, []):
                    yield from_item(item)
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:  # throttled throughout: the rest are read one by one
                for key in request.get(self._jobs, {}).get("Keys", []):
                    with translated("get job"):
                        single = self._db.get_item(
                            TableName=self._jobs, Key=key, ConsistentRead=True
                        ).get("Item")
                    if single is not None:
                        yield from_item(single)

    # -- listings -------------------------------------------------------------------------------

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        before = decode_cursor(cursor) if cursor else None
        ids = self._owner_ids(owner, before) if owner is not None else self._all_ids(before)
        matching: list[Job] = []
        # Read the newest ids in chunks and keep the jobs that pass the filters, one more than
        # the page holds: that one says whether a next page exists.
        for chunk in _chunks(ids, max(limit + 1, 10)):
            jobs = self.get_many(chunk)
            for job_id in chunk:
                job = jobs.get(job_id)
                if job is not None and _matches(job, status, job_type):
                    matching.append(job)
            if len(matching) > limit:
                break
        return page_of(matching, limit, lambda job: job.job_id)

    def _owner_ids(self, owner: str, before: str | None) -> Iterator[str]:
        """An owner's job ids, newest first: its shards' streams merged."""
        shards = [f"{owner}#{n}" for n in range(OWNER_SHARDS)]
        return self._merged_ids("owner-index", "owner_shard", shards, before)

    def _all_ids(self, before: str | None) -> Iterator[str]:
        """Every job id, newest first: the listing shards' streams merged."""
        shards = [f"jobs#{n}" for n in range(LISTING_SHARDS)]
        return self._merged_ids("listing-index", "listing", shards, before)

    def _merged_ids(
        self, index: str, key: str, shards: list[str], before: str | None
    ) -> Iterator[str]:
        condition = "#key = :shard" + (" AND job_id < :before" if before else "")
        after = {":before": {"S": before}} if before else {}
        streams = [
            self._index_ids(index, condition, {"#key": key}, {":shard": {"S": s}, **after})
            for s in shards
        ]
        return heapq.merge(*streams, reverse=True)

    def _index_ids(
        self,
        index: str,
        condition: str,
        names: dict[str, str] | None,
        values: dict[str, Any],
        page: int = 100,
    ) -> Iterator[str]:
        """Job ids from ``index`` newest first, read a page at a time as the caller pulls."""
        request: dict[str, Any] = {
            "TableName": self._jobs,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "job_id",
            "ScanIndexForward": False,
            "Limit": page,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        while True:
            with translated("list jobs"):
                answer = self._db.query(**request)
            for item in answer.get("Items", []):
                yield item["job_id"]["S"]
            last = answer.get("LastEvaluatedKey")
            if last is None:
                return
            request["ExclusiveStartKey"] = last

    # -- transitions and history ----------------------------------------------------------------

    def _update(self, transition: Transition) -> dict[str, Any]:
        """The conditional update that stores ``transition`` (for UpdateItem, or one item of a
        TransactWriteItems)."""
        job = transition.job
        fields = change_fields(transition.changes)
        if "status" in transition.changes:  # the job moves to its new status's shard
            fields["status_shard"] = status_shard(transition.after.status, job.job_id)
        sets, removes = [], []
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {":expected": {"N": str(job.version)}, ":one": {"N": "1"}}
        for n, (name, value) in enumerate(fields.items()):
            names[f"#f{n}"] = name
            if value is None:
                removes.append(f"#f{n}")
            else:
                sets.append(f"#f{n} = :v{n}")
                values[f":v{n}"] = to_attr(value)
        sets.append("#version = #version + :one")
        if transition.event is not None:
            # The history line rides in the same conditional write as the change it records.
            names["#history"] = "history"
            values[":event"] = {"L": [{"S": _history_entry(transition.event)}]}
            values[":none"] = {"L": []}
            sets.append("#history = list_append(if_not_exists(#history, :none), :event)")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return {
            "TableName": self._jobs,
            "Key": {"job_id": {"S": job.job_id}},
            "UpdateExpression": expression,
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def transition(self, transition: Transition) -> Job:
        try:
            with translated("transition job"):
                self._db.update_item(**self._update(transition))
        except ConditionFailed as exc:
            raise _conflict(transition, exc.item) from exc
        return transition.after

    def transition_many(self, transitions: Sequence[Transition]) -> list[Job | TransitionConflict]:
        """One ``TransactWriteItems`` per 100 transitions instead of an ``UpdateItem`` each (a
        transaction bills each write twice, and saves the requests). A transaction is all or
        nothing, so when one of its conditions fails, the others are tried again without it;
        any other cancellation (a concurrent write to the same item, throttling) sends the
        transitions it held one by one."""
        if len(transitions) < 2 or len({t.job.job_id for t in transitions}) < len(transitions):
            return transition_each(self.transition, transitions)  # (a transaction: items once)
        results: dict[int, Job | TransitionConflict] = {}
        waiting = list(range(len(transitions)))
        for _ in range(_TRANSACTION_ROUNDS):
            if not waiting:
                break
            retry: list[int] = []
            for start in range(0, len(waiting), _TRANSACTION_ITEMS):
                chunk = waiting[start : start + _TRANSACTION_ITEMS]
                retry += self._transact(transitions, chunk, results)
            waiting = retry
        alone = transition_each(self.transition, [transitions[n] for n in waiting])
        results.update(zip(waiting, alone, strict=True))
        return [results[n] for n in range(len(transitions))]

    def _transact(
        self,
        transitions: Sequence[Transition],
        chunk: list[int],
        results: dict[int, Job | TransitionConflict],
    ) -> list[int]:
        """Store ``chunk`` in one transaction; fills ``results``; returns what to try again."""
        from botocore.exceptions import ClientError

        if len(chunk) == 1:
            (results[chunk[0]],) = transition_each(self.transition, [transitions[chunk[0]]])
            return []
        items: list[Any] = [{"Update": self._update(transitions[n])} for n in chunk]
        with translated("transition jobs"):
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons")
                if code(exc) != "TransactionCanceledException" or not reasons:
                    raise  # translated: unavailable, or an error naming the code
                return self._cancelled(transitions, chunk, reasons, results)
        for n in chunk:
            results[n] = transitions[n].after
        return []

    @staticmethod
    def _cancelled(
        transitions: Sequence[Transition],
        chunk: list[int],
        reasons: Sequence[Mapping[str, Any]],
        results: dict[int, Job | TransitionConflict],
    ) -> list[int]:
        """Read a cancelled transaction's reasons (one per item, in order): a failed condition
        is that transition's conflict (with the stored item); the rest go again."""
        again = []
        for n, reason in zip(chunk, reasons, strict=True):
            why = reason.get("Code")
            if why == "ConditionalCheckFailed":
                item = reason.get("Item")
                results[n] = _conflict(transitions[n], from_item(item) if item else None)
            else:  # cancelled for another item's sake, a concurrent write, throttling
                again.append(n)
        return again

    def events(self, job_id: str, limit: int = 200) -> list[JobEvent]:
        with translated("list events"):
            item = self._db.get_item(
                TableName=self._jobs,
                Key={"job_id": {"S": job_id}},
                ConsistentRead=True,
                ProjectionExpression="job_id, #owner, #type, #history",
                ExpressionAttributeNames={
                    "#owner": "owner",
                    "#type": "type",
                    "#history": "history",
                },
            ).get("Item")
        if item is None or "owner" not in item:
            return []
        return events_of(from_item(item))[:limit]

    def stale(self, status: JobStatus, before: float, limit: int = 100) -> list[Job]:
        if status not in INDEXED_STATUSES:
            raise ValueError(f"the status index holds no {status.value} jobs")
        condition = "#key = :shard"
        values: dict[str, Any] = {":b": {"N": repr(before)}}
        extra: dict[str, Any] = {}
        if status is JobStatus.PROCESSING:
            extra["FilterExpression"] = "lease_expires_at < :b"
        else:
            condition += " AND updated_at < :b"
        found: list[tuple[float, str]] = []
        for n in range(STATUS_SHARDS):
            request: dict[str, Any] = {
                "TableName": self._jobs,
                "IndexName": "status-index",
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": {"#key": "status_shard"},
                "ExpressionAttributeValues": {**values, ":shard": {"S": f"{status.value}#{n}"}},
                "Limit": limit,
                **extra,
            }
            with translated("find stale jobs"):
                answer = self._db.query(**request)
            found += [
                (float(i["updated_at"]["N"]), i["job_id"]["S"]) for i in answer.get("Items", [])
            ]
        oldest = [job_id for _, job_id in sorted(found)[:limit]]
        jobs = self.get_many(oldest)
        # the index lags the table: keep only what is still as asked
        return [
            job
            for job_id in oldest
            if (job := jobs.get(job_id)) is not None
            and job.status is status
            and (status is not JobStatus.PROCESSING or (job.lease_expires_at or 0) < before)
        ]

    def expire_events(self, before: float) -> int:
        return 0  # a job's history lives in its item, as long as the job


def _conflict(transition: Transition, stored: Mapping[str, Any] | None) -> TransitionConflict:
    current = _job(stored)
    return TransitionConflict(
        f"job {transition.job.job_id} is at version "
        f"{current.version if current else 'none'}, not {transition.job.version}",
        current,
    )


def _matches(job: Job, status: JobStatus | None, job_type: str | None) -> bool:
    return (status is None or job.status is status) and (job_type is None or job.type == job_type)


def _chunks(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for job_id in ids:
        chunk.append(job_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
