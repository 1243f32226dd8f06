"""Subscriptions and webhook deliveries on DynamoDB. Translation only.

The notifications table (``EVENTS_TABLE_NAME``; Terraform's ``events`` table) has partition key
``pk`` and sort key ``sk``:

* a subscription: ``pk = "sub"``, ``sk`` = its id (ULIDs: oldest first); few per deployment,
  so one partition read lists them all;
* a delivery: ``pk = "del#<subscription id>"``, ``sk`` = the delivery id (``<event id>.<sub id>``:
  newest first when read backwards); while pending it also has ``due = "due"`` and ``next_at``,
  which puts it in the sparse GSI ``due-index`` (``due``, ``next_at``) the senders claim from;
* the dispatcher's cursor: ``pk = "cursor"``, ``sk`` = its name, ``start`` = the first event id
  it dispatches, ``positions`` = how far it read each shard of the jobs table's stream, and a
  ``version`` its saves are conditional on. The deploy makes the ``notifications`` cursor with
  the table (``start = "0"``: from the stream's first record on); a cursor made later by
  :meth:`start_cursor` skips the events from before it (no flood of old notices).

The events come from the jobs table's stream (:mod:`.stream`): exactly the committed writes,
read after the cursor's positions, which are saved after the deliveries are written and the
notices published; no write of a job pays for its notification. A delivery's id is fixed by its
event and subscription and written only if absent, so a dispatcher that dies before it saves
its positions makes the same deliveries again, not new ones; a claim is a conditional write on
``next_at``, so two senders never take one delivery.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from jobgate.backends.aws.errors import ConditionFailed, translated
from jobgate.backends.fields import delivery_of, delivery_text, subscription_of, subscription_text
from jobgate.domain.ids import new_id
from jobgate.domain.models import JobEvent
from jobgate.domain.notices import DeliveryStatus, NoticeDelivery, Subscription
from jobgate.logs import get_logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from jobgate.backends.aws.stream import JobStream

_SUBS = "sub"
_CURSOR = "cursor"


def _deliveries_key(sub_id: str) -> str:
    return f"del#{sub_id}"


class DynamoNoticeStore:
    """:class:`~jobgate.ports.SubscriptionStore` and :class:`~jobgate.ports.DeliveryStore`."""

    def __init__(self, client: DynamoDBClient, table: str, stream: JobStream | None) -> None:
        """``stream``: the jobs table's stream (None: this process dispatches nothing)."""
        self._db = client
        self._table = table
        self._stream = stream
        self._cursors: dict[str, tuple[str, dict[str, str], int]] = {}
        self._warned = False

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        request = {"TableName": self._table, **request}
        while True:
            with translated("read notifications"):
                answer = self._db.query(**request)
            yield from answer.get("Items", [])
            last = answer.get("LastEvaluatedKey")
            if last is None or "Limit" in request:
                return
            request["ExclusiveStartKey"] = last

    # -- subscriptions --------------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> None:
        with translated("add subscription"):
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(_SUBS, subscription.sub_id), **self._sub_fields(subscription)},
                ConditionExpression="attribute_not_exists(pk)",
            )

    @staticmethod
    def _sub_fields(subscription: Subscription) -> dict[str, Any]:
        return {
            "owner": {"S": subscription.owner},
            "data": {"S": subscription_text(subscription)},
        }

    def get_subscription(self, sub_id: str) -> Subscription | None:
        with translated("get subscription"):
            item = self._db.get_item(
                TableName=self._table, Key=self._key(_SUBS, sub_id), ConsistentRead=True
            ).get("Item")
        return None if item is None else subscription_of(item["data"]["S"])

    def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        found = [
            subscription_of(item["data"]["S"])
            for item in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _SUBS}},
                ConsistentRead=True,
            )
        ]
        mine = [s for s in found if owner is None or s.owner == owner]
        return sorted(mine, key=lambda s: (s.created_at, s.sub_id))

    def save_subscription(self, subscription: Subscription) -> None:
        # a subscription deleted meanwhile stays deleted
        with contextlib.suppress(ConditionFailed), translated("save subscription"):
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(_SUBS, subscription.sub_id), **self._sub_fields(subscription)},
                ConditionExpression="attribute_exists(pk)",
            )

    def delete_subscription(self, sub_id: str) -> bool:
        with translated("delete subscription"):
            old = self._db.delete_item(
                TableName=self._table, Key=self._key(_SUBS, sub_id), ReturnValues="ALL_OLD"
            ).get("Attributes")
        pending = self._query(
            KeyConditionExpression="pk = :pk",
            FilterExpression="attribute_exists(due)",
            ExpressionAttributeValues={":pk": {"S": _deliveries_key(sub_id)}},
            ProjectionExpression="pk, sk",
        )
        for item in pending:
            with translated("delete delivery"):
                self._db.delete_item(
                    TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]}
                )
        return old is not None

    # -- deliveries -----------------------------------------------------------------------------

    def start_cursor(self, name: str) -> None:
        with contextlib.suppress(ConditionFailed), translated("start cursor"):
            self._db.put_item(
                TableName=self._table,
                # the smallest id of this millisecond: every later event sorts at or after it
                Item={
                    **self._key(_CURSOR, name),
                    "start": {"S": new_id(time.time())[:10] + "0" * 16},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )

    def dispatch(
        self, cursor_name: str, make: Callable[[list[JobEvent]], list[NoticeDelivery]], limit: int
    ) -> int:
        """The events committed after the cursor's stream positions (up to ``limit``) →
        ``make`` → deliveries written (absent ones only) → the positions saved. A crash before
        the save reads the same events again: the same delivery ids (kept once), the same SNS
        message ids."""
        if self._stream is None:
            if not self._warned:  # once: the rest of the notifier (sending) still works
                self._warned = True
                get_logger(component="notifier").error(
                    "notifications_not_dispatched",
                    reason="the jobs table's stream is unknown: set JOBS_STREAM_ARN "
                    "(Terraform and jobgate aws-local set it)",
                )
            return 0
        start, positions, version = self._cursor(cursor_name)
        # (events from before the cursor began are passed over)
        batch = self._stream.read(positions, limit, lambda e: e.event_id >= start)
        if batch.positions == positions:
            return 0
        if batch.events:
            for delivery in make(batch.events):
                self._put_new(delivery)
        self._save_cursor(cursor_name, batch.positions, version)
        return len(batch.events)

    def _cursor(self, name: str) -> tuple[str, dict[str, str], int]:
        """(start, stream positions, version) of a cursor: as last saved by this process, else
        read."""
        if name in self._cursors:
            return self._cursors[name]
        with translated("read cursor"):
            item = self._db.get_item(
                TableName=self._table, Key=self._key(_CURSOR, name), ConsistentRead=True
            ).get("Item")
        if item is None:
            raise LookupError(f"cursor {name!r} was never started (start_cursor)")
        positions = {k: v["S"] for k, v in item.get("positions", {}).get("M", {}).items()}
        read = (str(item["start"]["S"]), positions, int(item.get("version", {}).get("N", "0")))
        self._cursors[name] = read
        return read

    def _save_cursor(self, name: str, positions: dict[str, str], version: int) -> None:
        start = self._cursors[name][0]
        try:
            with translated("save cursor"):
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key(_CURSOR, name),
                    UpdateExpression="SET positions = :p, version = :next",
                    ConditionExpression="attribute_not_exists(version) OR version = :v",
                    ExpressionAttributeValues={
                        ":p": {"M": {k: {"S": v} for k, v in positions.items()}},
                        ":v": {"N": str(version)},
                        ":next": {"N": str(version + 1)},
                    },
                )
        except ConditionFailed:
            # another dispatcher moved the cursor (it published what we did, or will): start
            # again from its positions
            self._cursors.pop(name, None)
            if self._stream is not None:
                self._stream.forget()
            return
        self._cursors[name] = (start, positions, version + 1)

    def _put_new(self, delivery: NoticeDelivery) -> None:
        with contextlib.suppress(ConditionFailed), translated("add delivery"):
            self._db.put_item(
                TableName=self._table,
                Item=self._delivery_item(delivery),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def _delivery_item(self, delivery: NoticeDelivery) -> dict[str, Any]:
        item = {
            **self._key(_deliveries_key(delivery.sub_id), delivery.delivery_id),
            "data": {"S": delivery_text(delivery)},
        }
        if delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is not None:
            item["due"] = {"S": "due"}
            item["next_at"] = {"N": repr(delivery.next_attempt_at)}
        return item

    def claim_due(self, now: float, limit: int, lease_seconds: float) -> list[NoticeDelivery]:
        due = self._query(
            IndexName="due-index",
            KeyConditionExpression="due = :due AND next_at <= :now",
            ExpressionAttributeValues={":due": {"S": "due"}, ":now": {"N": repr(now)}},
            Limit=limit,
        )
        claimed = []
        for item in list(due):
            try:
                with translated("claim delivery"):
                    self._db.update_item(
                        TableName=self._table,
                        Key={"pk": item["pk"], "sk": item["sk"]},
                        UpdateExpression="SET next_at = :lease",
                        ConditionExpression="next_at = :seen",
                        ExpressionAttributeValues={
                            ":lease": {"N": repr(now + lease_seconds)},
                            ":seen": item["next_at"],
                        },
                    )
            except ConditionFailed:
                continue  # another sender took it, or it was saved meanwhile
            claimed.append(delivery_of(item["data"]["S"]))
        return claimed

    def save_delivery(self, delivery: NoticeDelivery) -> None:
        with translated("save delivery"):
            self._db.put_item(TableName=self._table, Item=self._delivery_item(delivery))

    def get_delivery(self, delivery_id: str) -> NoticeDelivery | None:
        _, _, sub_id = delivery_id.partition(".")
        if not sub_id:
            return None
        with translated("get delivery"):
            item = self._db.get_item(
                TableName=self._table,
                Key=self._key(_deliveries_key(sub_id), delivery_id),
                ConsistentRead=True,
            ).get("Item")
        return None if item is None else delivery_of(item["data"]["S"])

    def deliveries(self, sub_id: str, limit: int = 100) -> list[NoticeDelivery]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _deliveries_key(sub_id)}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [delivery_of(item["data"]["S"]) for item in items]
