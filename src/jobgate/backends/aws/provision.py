"""Create the AWS resources jobgate needs, for an emulator or a quick trial account.

Production deploys them with the Terraform in ``infra/``; this module exists so the tests and
the local AWS mode can stand the same shapes up against moto's server in one call.
"""

from __future__ import annotations

import json
from typing import Any

from jobgate.backends.aws import AwsResources


def _attr(name: str, kind: str = "S") -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


def _key(name: str) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": "HASH"}]


def _gsi(
    name: str, hash_key: str, range_key: str, projection: str = "ALL", *also: str
) -> dict[str, Any]:
    """A GSI; ``also``: the non-key attributes an ``INCLUDE`` projection carries."""
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": projection}
        | ({"NonKeyAttributes": list(also)} if also else {}),
    }


def provision(
    clients: dict[str, Any], prefix: str, region: str, *, max_receives: int = 5
) -> AwsResources:
    """Create tables, queues and the bucket named after ``prefix``; return where they are."""
    db, sqs, s3, sns = clients["dynamodb"], clients["sqs"], clients["s3"], clients["sns"]
    jobs = db.create_table(
        TableName=f"{prefix}-jobs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            _attr("job_id"),
            _attr("owner_shard"),
            _attr("status_shard"),
            _attr("updated_at", "N"),
            _attr("listing"),
        ],
        KeySchema=_key("job_id"),
        GlobalSecondaryIndexes=[
            _gsi("owner-index", "owner_shard", "job_id", "KEYS_ONLY"),
            _gsi("status-index", "status_shard", "updated_at", "INCLUDE", "lease_expires_at"),
            _gsi("listing-index", "listing", "job_id", "KEYS_ONLY"),
        ],
        # notifications read the events each write appended from here (backends/aws/stream.py)
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        SSESpecification={"Enabled": True},
    )
    db.create_table(
        TableName=f"{prefix}-events",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[_attr("pk"), _attr("sk"), _attr("due"), _attr("next_at", "N")],
        KeySchema=[*_key("pk"), {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[_gsi("due-index", "due", "next_at")],
        SSESpecification={"Enabled": True},
    )
    # the notifications cursor, made with the table (as the local schema makes it): events are
    # dispatched from the deployment's first one, even those committed before a notifier ran
    db.put_item(
        TableName=f"{prefix}-events",
        Item={"pk": {"S": "cursor"}, "sk": {"S": "notifications"}, "start": {"S": "0"}},
    )
    db.update_time_to_live(
        TableName=f"{prefix}-events",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
    )
    db.create_table(
        TableName=f"{prefix}-users",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            _attr("user_id"),
            _attr("kind"),
            _attr("key_owner"),
            _attr("created_at", "N"),
        ],
        KeySchema=_key("user_id"),
        GlobalSecondaryIndexes=[
            _gsi("kind-index", "kind", "user_id"),
            _gsi("key-owner-index", "key_owner", "created_at"),
        ],
        SSESpecification={"Enabled": True},
    )
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-jobs-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-jobs",
        Attributes={
            "MessageRetentionPeriod": "345600",
            "VisibilityTimeout": "300",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            ),
        },
    )["QueueUrl"]
    bucket = f"{prefix}-blobs"
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"{prefix}-notifications")["TopicArn"]
    return AwsResources(
        region=region,
        jobs_table=f"{prefix}-jobs",
        events_table=f"{prefix}-events",
        users_table=f"{prefix}-users",
        queue_url=queue_url,
        dlq_url=dlq_url,
        bucket=bucket,
        notifications_topic_arn=topic,
        jobs_stream_arn=jobs["TableDescription"]["LatestStreamArn"],
    )
