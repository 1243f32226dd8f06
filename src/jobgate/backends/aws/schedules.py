"""Schedule state on DynamoDB: ``schedule#<name>`` items in the jobs table (no ``owner`` or
``status``, so the jobs table's indexes stay sparse). Translation only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobgate.backends.aws.errors import ConditionFailed, translated
from jobgate.backends.aws.items import from_item, to_item
from jobgate.domain.models import ScheduleState

if TYPE_CHECKING:  # the published stubs (dev extra); nothing at run time
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoScheduleStore:
    """:class:`~jobgate.ports.ScheduleStore`: ``schedule#<name>`` items in the jobs table."""

    def __init__(self, client: DynamoDBClient, jobs_table: str) -> None:
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
                if values:
                    self._db.put_item(
                        TableName=self._table,
                        Item=to_item(fields),
                        ConditionExpression=condition,
                        ExpressionAttributeValues=values,
                    )
                else:
                    self._db.put_item(
                        TableName=self._table, Item=to_item(fields), ConditionExpression=condition
                    )
        except ConditionFailed:
            return False
        return True
