"""The job ledger, users and schedules on DynamoDB. Translation only: policy lives in services.

Tables (names from settings; Terraform creates them):

* jobs: partition key ``job_id``. GSI ``owner-index`` (``owner``, ``job_id``: ULIDs sort by
  time) lists an owner's jobs newest first; GSI ``status-index`` (``status``, ``updated_at``)
  feeds the reconciler. The same table holds idempotency items (``idem#<sha256(owner, key)>``,
  so keys of two owners never collide) and schedule state (``schedule#<name>``); those items
  carry no ``owner``/``status``, so the indexes stay sparse.
* events: partition key ``job_id``, sort key ``event_id`` (a ULID), TTL on ``ttl``.
* users: partition key ``user_id``; API keys live beside users as ``apikey#<sha256>``, listed
  per user through GSI ``key-owner-index`` (``key_owner``, ``created_at``); users are listed in
  id order through GSI ``kind-index`` (``kind`` = "user", ``user_id``).

Every transition is a conditional update (``version = :expected``), then the event's put. A
failed condition is reported with the stored item (``ReturnValuesOnConditionCheckFailure``),
so the caller learns the current job without another read. Creating a job with an idempotency
key is one transaction (the key's item and the job together).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from jobgate.backends.aws.batching import WriteBehind
from jobgate.backends.aws.errors import code, translated
from jobgate.backends.fields import (
    change_fields,
    decode_cursor,
    dumps,
    encode_cursor,
    job_fields,
    job_from_fields,
)
from jobgate.domain.ids import new_id
from jobgate.domain.models import ApiKey, Job, JobEvent, JobStatus, Page, ScheduleState, User
from jobgate.errors import Conflict, TransitionConflict, ValidationFailed

Item = dict[str, dict[str, Any]]
_GETS_PER_CALL = 100  # BatchGetItem's limit
_GET_ROUNDS = 5


def to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    return {"S": str(value)}


def from_attr(attr: Mapping[str, Any]) -> Any:
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        text = attr["N"]
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "BOOL" in attr:
        return attr["BOOL"]
    return None


def to_item(fields: Mapping[str, Any]) -> Item:
    return {k: to_attr(v) for k, v in fields.items() if v is not None}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


def idempotency_item_key(owner: str, key: str) -> str:
    digest = hashlib.sha256(f"{owner}\x00{key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"idem#{digest}"


class DynamoJobStore:
    """:class:`~jobgate.ports.JobStore` on DynamoDB."""

    def __init__(
        self,
        client: Any,
        jobs_table: str,
        events_table: str,
        event_retention_seconds: float,
        write_behind: WriteBehind | None = None,
    ) -> None:
        self._db = client
        self._jobs = jobs_table
        self._events = events_table
        self._retention = event_retention_seconds
        self._behind = write_behind

    def _event_put(self, event: JobEvent) -> dict[str, Any]:
        fields = {
            "job_id": event.job_id,
            "event_id": new_id(event.at),
            "at": event.at,
            "kind": event.kind,
            "status": event.status.value,
            "attempt": event.attempt,
            "detail": dumps(event.detail),
            "ttl": int(event.at + self._retention),
        }
        return {"Put": {"TableName": self._events, "Item": to_item(fields)}}

    def create(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._jobs,
                    "Item": to_item(job_fields(job)),
                    "ConditionExpression": "attribute_not_exists(job_id)",
                }
            },
            self._event_put(event),
        ]
        if job.idempotency_key is None:
            # No key to reserve: the job, then its first event (as for transitions).
            with translated("create job"):
                self._db.put_item(**items[0]["Put"])
            self._append(items[1])
            return job, True
        if job.idempotency_key is not None:
            marker = idempotency_item_key(job.owner, job.idempotency_key)
            items.insert(
                0,
                {
                    "Put": {
                        "TableName": self._jobs,
                        "Item": to_item({"job_id": marker, "target_job_id": job.job_id}),
                        "ConditionExpression": "attribute_not_exists(job_id)",
                    }
                },
            )
        try:
            with translated("create job"):
                self._db.transact_write_items(TransactItems=items)
        except Exception as exc:
            existing = self._existing_for_key(job) if _cancelled_by_condition(exc) else None
            if existing is None:
                raise
            return existing, False
        return job, True

    def _existing_for_key(self, job: Job) -> Job | None:
        if job.idempotency_key is None:
            return None
        marker = idempotency_item_key(job.owner, job.idempotency_key)
        with translated("read idempotency key"):
            found = self._db.get_item(
                TableName=self._jobs, Key={"job_id": {"S": marker}}, ConsistentRead=True
            ).get("Item")
        return self.get(from_item(found)["target_job_id"]) if found else None

    def get(self, job_id: str) -> Job | None:
        with translated("get job"):
            item = self._db.get_item(
                TableName=self._jobs, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            ).get("Item")
        return None if item is None or "owner" not in item else job_from_fields(from_item(item))

    def list_jobs(
        self,
        owner: str | None,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Job]:
        jobs: list[Job] = []
        start = _start_key(cursor)
        while len(jobs) < limit:
            request = self._list_request(owner, status, job_type, start, limit - len(jobs))
            with translated("list jobs"):
                answer = (
                    self._db.query(**request) if owner is not None else self._db.scan(**request)
                )
            jobs.extend(job_from_fields(from_item(i)) for i in answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if start is None:
                break
        if owner is None:  # a scan has no order: newest first, as the owner index gives
            jobs.sort(key=lambda j: j.job_id, reverse=True)
        return Page(jobs, encode_cursor(json.dumps(start)) if start else None)

    def _list_request(
        self,
        owner: str | None,
        status: JobStatus | None,
        job_type: str | None,
        start: Any,
        limit: int,
    ) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters = ["attribute_exists(#owner)"]
        names["#owner"] = "owner"
        if status is not None:
            filters.append("#status = :status")
            names["#status"], values[":status"] = "status", {"S": status.value}
        if job_type is not None:
            filters.append("#type = :type")
            names["#type"], values[":type"] = "type", {"S": job_type}
        request: dict[str, Any] = {"TableName": self._jobs, "Limit": max(limit, 1)}
        if owner is not None:
            values[":owner"] = {"S": owner}
            request.update(
                IndexName="owner-index",
                KeyConditionExpression="#owner = :owner",
                ScanIndexForward=False,
            )
            filters = filters[1:]
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        if start is not None:
            request["ExclusiveStartKey"] = start
        return request

    def transition(self, job: Job, changes: Mapping[str, Any], event: JobEvent | None) -> Job:
        fields = change_fields(changes)
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
        expression = "SET " + ", ".join([*sets, "#version = #version + :one"])
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            with translated("transition job"):
                self._db.update_item(
                    TableName=self._jobs,
                    Key={"job_id": {"S": job.job_id}},
                    UpdateExpression=expression,
                    ConditionExpression="#version = :expected",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except Exception as exc:
            if not _cancelled_by_condition(exc):
                raise
            old = exc.__cause__.response.get("Item") if exc.__cause__ is not None else None  # type: ignore[attr-defined]
            current = job_from_fields(from_item(old)) if old and "owner" in old else None
            raise TransitionConflict(
                f"job {job.job_id} is at version "
                f"{current.version if current else 'none'}, not {job.version}",
                current,
            ) from exc
        if event is not None:
            # The event follows the update it records (not one transaction: a transaction
            # costs twice the write capacity, and moto slows with table size). A crash in
            # between can drop a history line; it can never record a move that did not happen.
            self._append(self._event_put(event))
        return replace(job, **changes, version=job.version + 1)

    def _append(self, event_put: dict[str, Any]) -> None:
        """Write an event now, or batched at the end of the caller's ``atomic()`` scope."""
        if self._behind is not None and self._behind.active:
            self._behind.put_event(event_put["Put"])
            return
        with translated("append event"):
            self._db.put_item(**event_put["Put"])

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), _GETS_PER_CALL):
            keys = [{"job_id": {"S": i}} for i in unique[start : start + _GETS_PER_CALL]]
            request: dict[str, Any] = {self._jobs: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(_GET_ROUNDS):
                with translated("get jobs"):
                    answer = self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._jobs, []):
                    if "owner" in item:
                        job = job_from_fields(from_item(item))
                        found[job.job_id] = job
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:  # throttled throughout: the rest are read one by one
                for key in request.get(self._jobs, {}).get("Keys", []):
                    single = self.get(key["job_id"]["S"])
                    if single is not None:
                        found[single.job_id] = single
        return found

    def events(self, job_id: str, limit: int = 200) -> list[JobEvent]:
        with translated("list events"):
            answer = self._db.query(
                TableName=self._events,
                KeyConditionExpression="job_id = :j",
                ExpressionAttributeValues={":j": {"S": job_id}},
                Limit=limit,
                ConsistentRead=True,
            )
        return [_event(from_item(i)) for i in answer.get("Items", [])]

    def stale(self, status: JobStatus, before: float, limit: int = 100) -> list[Job]:
        request: dict[str, Any] = {
            "TableName": self._jobs,
            "IndexName": "status-index",
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status.value}, ":b": {"N": repr(before)}},
            "Limit": limit,
        }
        if status is JobStatus.PROCESSING:
            request["FilterExpression"] = "lease_expires_at < :b"
        else:
            request["KeyConditionExpression"] += " AND updated_at < :b"
        with translated("find stale jobs"):
            answer = self._db.query(**request)
        return [job_from_fields(from_item(i)) for i in answer.get("Items", [])]

    def expire_events(self, before: float) -> int:
        return 0  # DynamoDB's TTL on the events table deletes them


def _start_key(cursor: str | None) -> Any:
    """The DynamoDB start key a cursor carries; a cursor we did not make is a 422."""
    if not cursor:
        return None
    try:
        key = json.loads(decode_cursor(cursor))
    except ValueError as exc:
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page") from exc
    if not isinstance(key, dict):
        raise ValidationFailed("cursor is not valid: pass back the cursor of a page")
    return key


def _event(f: Mapping[str, Any]) -> JobEvent:
    return JobEvent(
        f["job_id"], float(f["at"]), f["kind"], JobStatus(f["status"]), int(f["attempt"]),
        json.loads(f["detail"]),
    )  # fmt: skip


def _cancelled_by_condition(exc: BaseException) -> bool:
    cause = exc.__cause__ if not isinstance(exc, ClientError) else exc
    if not isinstance(cause, ClientError):
        return False
    if code(cause) == "ConditionalCheckFailedException":
        return True
    reasons = cause.response.get("CancellationReasons") or []
    return code(cause) == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


class DynamoUserStore:
    """:class:`~jobgate.ports.UserStore` on DynamoDB (see the module docstring for keys)."""

    def __init__(self, client: Any, users_table: str) -> None:
        self._db = client
        self._table = users_table

    def create_user(self, user: User) -> None:
        fields = {
            "user_id": user.user_id,
            "name": user.name,
            "email": user.email,
            "created_at": user.created_at,
            "kind": "user",
        }
        try:
            with translated("create user"):
                self._db.put_item(
                    TableName=self._table,
                    Item=to_item(fields),
                    ConditionExpression="attribute_not_exists(user_id)",
                )
        except Exception as exc:
            if _cancelled_by_condition(exc):
                raise Conflict(f"user {user.user_id!r} already exists") from exc
            raise

    def get_user(self, user_id: str) -> User | None:
        with translated("get user"):
            item = self._db.get_item(TableName=self._table, Key={"user_id": {"S": user_id}}).get(
                "Item"
            )
        if item is None or from_item(item).get("kind") != "user":
            return None
        return _user(from_item(item))

    def list_users(self, cursor: str | None = None, limit: int = 50) -> Page[User]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "kind-index",
            "KeyConditionExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": {"S": "user"}},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = _start_key(cursor)
        with translated("list users"):
            answer = self._db.query(**request)
        users = [_user(from_item(i)) for i in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return Page(users, encode_cursor(json.dumps(last)) if last else None)

    def add_key(self, key: ApiKey) -> None:
        fields = {
            "user_id": f"apikey#{key.key_hash}",
            "key_id": key.key_id,
            "key_owner": key.user_id,
            "key_hash": key.key_hash,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        }
        with translated("add key"):
            self._db.put_item(TableName=self._table, Item=to_item(fields))

    def revoke_key(self, user_id: str, key_id: str, at: float) -> bool:
        for key in self.list_keys(user_id):
            if key.key_id == key_id and key.revoked_at is None:
                try:
                    with translated("revoke key"):
                        self._db.update_item(
                            TableName=self._table,
                            Key={"user_id": {"S": f"apikey#{key.key_hash}"}},
                            UpdateExpression="SET revoked_at = :at",
                            ConditionExpression="attribute_not_exists(revoked_at)",
                            ExpressionAttributeValues={":at": {"N": repr(at)}},
                        )
                except Exception as exc:
                    if _cancelled_by_condition(exc):
                        return False
                    raise
                return True
        return False

    def find_key(self, key_hash: str) -> ApiKey | None:
        with translated("find key"):
            item = self._db.get_item(
                TableName=self._table, Key={"user_id": {"S": f"apikey#{key_hash}"}}
            ).get("Item")
        return None if item is None else _key(from_item(item))

    def list_keys(self, user_id: str) -> list[ApiKey]:
        with translated("list keys"):
            answer = self._db.query(
                TableName=self._table,
                IndexName="key-owner-index",
                KeyConditionExpression="key_owner = :u",
                ExpressionAttributeValues={":u": {"S": user_id}},
            )
        return [_key(from_item(i)) for i in answer.get("Items", [])]


def _user(f: Mapping[str, Any]) -> User:
    return User(f["user_id"], f["name"], f["email"], float(f["created_at"]))


def _key(f: Mapping[str, Any]) -> ApiKey:
    revoked = f.get("revoked_at")
    return ApiKey(
        f["key_id"], f["key_owner"], f["key_hash"], float(f["created_at"]),
        None if revoked is None else float(revoked),
    )  # fmt: skip


class DynamoScheduleStore:
    """:class:`~jobgate.ports.ScheduleStore`: ``schedule#<name>`` items in the jobs table."""

    def __init__(self, client: Any, jobs_table: str) -> None:
        self._db = client
        self._table = jobs_table

    def get_state(self, name: str) -> ScheduleState:
        with translated("get schedule"):
            item = self._db.get_item(
                TableName=self._table,
                Key={"job_id": {"S": f"schedule#{name}"}},
                ConsistentRead=True,
            ).get("Item")
        if item is None:
            return ScheduleState(name, None)
        f = from_item(item)
        return ScheduleState(name, float(f["last_tick"]), int(f["missed"]), int(f["version"]))

    def advance(self, state: ScheduleState, last_tick: float, missed: int) -> bool:
        condition = "attribute_not_exists(job_id)" if state.version == 0 else "version = :expected"
        values = {":expected": {"N": str(state.version)}} if state.version else {}
        fields = {
            "job_id": f"schedule#{state.name}",
            "last_tick": last_tick,
            "missed": missed,
            "version": state.version + 1,
        }
        try:
            with translated("advance schedule"):
                self._db.put_item(
                    TableName=self._table,
                    Item=to_item(fields),
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
        except Exception as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True
