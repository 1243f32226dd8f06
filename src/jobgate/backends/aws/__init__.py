"""The AWS backend: DynamoDB (ledger, users, schedules, notifications; the jobs table's stream
feeds the notifications), SQS (queue + DLQ),
S3 (blobs), SNS (every notice published; email and SMS subscriptions).

boto3 is imported here, not by the rest of jobgate: install the ``aws`` extra to use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobgate.ports import Backend


@dataclass(frozen=True)
class AwsResources:
    """Where the backend's resources are (the settings' names, as in the seeds)."""

    region: str
    jobs_table: str
    events_table: str
    users_table: str
    queue_url: str
    dlq_url: str
    bucket: str
    endpoint_url: str | None = None
    notifications_topic_arn: str | None = None  # None: no SNS publishing, no email/SMS
    jobs_stream_arn: str | None = None  # the jobs table's stream; None: no notifications sent


class LazyClient:
    """A boto3 client made on first use: building one loads its service model (tens of ms),
    and a cold start should pay only for the services its path touches."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
        return getattr(self._client, name)


def clients(resources: AwsResources, session: Any = None) -> dict[str, Any]:
    """boto3 clients (made on first use) with adaptive retries: backoff on throttling and 5xx."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=resources.region,
        retries={"max_attempts": 5, "mode": "adaptive"},
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=5,
        read_timeout=30,
    )
    session = session or boto3.session.Session()

    def maker(name: str) -> Callable[[], Any]:
        return lambda: session.client(name, endpoint_url=resources.endpoint_url, config=config)

    names = ("dynamodb", "dynamodbstreams", "sqs", "s3", "sns")
    return {name: LazyClient(maker(name)) for name in names}


def build_aws_backend(resources: AwsResources, *, session: Any = None) -> Backend:
    from jobgate.backends.aws.jobs import DynamoJobStore
    from jobgate.backends.aws.notices import DynamoNoticeStore
    from jobgate.backends.aws.s3 import S3BlobStore
    from jobgate.backends.aws.schedules import DynamoScheduleStore
    from jobgate.backends.aws.sqs import SqsQueue
    from jobgate.backends.aws.users import DynamoUserStore

    made = clients(resources, session)
    queue = SqsQueue(made["sqs"], resources.queue_url, resources.dlq_url)
    jobs = DynamoJobStore(made["dynamodb"], resources.jobs_table)
    stream = None
    if resources.jobs_stream_arn:
        from jobgate.backends.aws.stream import JobStream

        stream = JobStream(made["dynamodbstreams"], resources.jobs_stream_arn)
    notices = DynamoNoticeStore(made["dynamodb"], resources.events_table, stream)
    topic = None
    if resources.notifications_topic_arn:
        from jobgate.backends.aws.sns import SnsTopic

        topic = SnsTopic(made["sns"], resources.notifications_topic_arn)
    return Backend(
        name="aws",
        jobs=jobs,
        users=DynamoUserStore(made["dynamodb"], resources.users_table),
        queue=queue,
        dead_letters=queue,
        blobs=S3BlobStore(made["s3"], resources.bucket),
        schedules=DynamoScheduleStore(made["dynamodb"], resources.jobs_table),
        # No transactions across items here: atomic() batches message deletes instead.
        atomic=queue.acks.scope,
        close=lambda: None,
        subscriptions=notices,
        notices=notices,
        topic=topic,
    )
