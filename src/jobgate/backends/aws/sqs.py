"""The job queue and its dead-letter queue on SQS. Translation only.

SQS counts whole seconds: visibility timeouts and delays are rounded up (a 0.3 s visibility
becomes 1 s); long polls wait at most 20 s. The queue's own redrive policy (max receives, set
by Terraform) moves a message received too often to the DLQ; :meth:`SqsQueue.bury` moves one
explicitly (send to the DLQ, then delete from the queue). SQS has no peek: the DLQ is read by
receiving with a zero visibility timeout, which returns the messages at once to the DLQ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobgate.backends.aws.batching import AckBatcher
from jobgate.backends.aws.errors import translated, unavailable
from jobgate.domain.models import Delivery, OutgoingMessage, QueueStats

if TYPE_CHECKING:  # the published stubs (dev extra); nothing at run time
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeFilterType
    from mypy_boto3_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

_BATCH = 10
_STRING = "String"


def _seconds(value: float) -> int:
    return max(0, min(43_200, math.ceil(value)))


def _attributes(message: MessageTypeDef) -> dict[str, str]:
    return {
        name: str(value.get("StringValue", ""))
        for name, value in (message.get("MessageAttributes") or {}).items()
    }


def _delivery(message: MessageTypeDef) -> Delivery:
    system = message.get("Attributes", {})
    return Delivery(
        message_id=message["MessageId"],
        receipt=message["ReceiptHandle"],
        body=message["Body"],
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        attributes=_attributes(message),
        sent_at=int(system.get("SentTimestamp", 0)) / 1000,
    )


class SqsQueue:
    """:class:`~jobgate.ports.JobQueue` and :class:`~jobgate.ports.DeadLetters` on SQS."""

    def __init__(self, client: SQSClient, queue_url: str, dlq_url: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._dlq = dlq_url
        self.acks = AckBatcher(lambda receipts: self._delete_from(self._url, receipts))

    # -- JobQueue -----------------------------------------------------------------------------

    def send(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        return self._send_to(self._url, messages)

    def _send_to(self, url: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(messages), _BATCH):
            chunk = messages[start : start + _BATCH]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(n),
                    "MessageBody": m.body,
                    "DelaySeconds": _seconds(m.delay_seconds),
                    "MessageAttributes": {
                        k: {"DataType": _STRING, "StringValue": v} for k, v in m.attributes.items()
                    },
                }
                for n, m in enumerate(chunk)
            ]
            with translated("send messages"):
                answer = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if answer.get("Failed"):
                # Some entries were refused (throttling, an SQS fault): the caller retries the
                # whole send later; a message that did go out is a harmless duplicate.
                raise unavailable("send messages", answer["Failed"])
            by_id = {entry["Id"]: entry["MessageId"] for entry in answer.get("Successful", [])}
            ids.extend(by_id[str(n)] for n in range(len(chunk)))
        return ids

    def receive(
        self, max_messages: int, wait_seconds: float, visibility_timeout: float
    ) -> list[Delivery]:
        return self._receive_from(self._url, max_messages, wait_seconds, visibility_timeout)

    def _receive_from(
        self, url: str, max_messages: int, wait_seconds: float, visibility_timeout: float
    ) -> list[Delivery]:
        with translated("receive messages"):
            answer = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=max(1, min(_BATCH, max_messages)),
                WaitTimeSeconds=min(20, _seconds(wait_seconds)),
                VisibilityTimeout=_seconds(visibility_timeout),
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=["All"],
            )
        return [_delivery(m) for m in answer.get("Messages", [])]

    def ack(self, receipts: Sequence[str]) -> None:
        if self.acks.active:
            self.acks.ack(receipts)  # deleted in batches when the atomic() scope ends
        else:
            self._delete_from(self._url, receipts)

    def _delete_from(self, url: str, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), _BATCH):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(n), "ReceiptHandle": r}
                for n, r in enumerate(receipts[start : start + _BATCH])
            ]
            with translated("delete messages"):
                # A stale receipt fails its entry quietly, as the JobQueue contract allows.
                self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def extend(self, receipt: str, visibility_timeout: float) -> None:
        self._set_visibility(receipt, visibility_timeout)

    def release(self, receipt: str, delay_seconds: float) -> None:
        self._set_visibility(receipt, delay_seconds)

    def _set_visibility(self, receipt: str, seconds: float) -> None:
        with translated("change visibility", receipts=True):
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt, VisibilityTimeout=_seconds(seconds)
            )

    def stats(self) -> QueueStats:
        names: list[QueueAttributeFilterType] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        with translated("queue attributes"):
            main = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)
            dead = self._sqs.get_queue_attributes(
                QueueUrl=self._dlq, AttributeNames=["ApproximateNumberOfMessages"]
            )
        a, d = main["Attributes"], dead["Attributes"]
        return QueueStats(
            depth=int(a.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(a.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(a.get("ApproximateNumberOfMessagesDelayed", 0)),
            dead_letters=int(d.get("ApproximateNumberOfMessages", 0)),
        )

    # -- DeadLetters --------------------------------------------------------------------------

    def bury(self, delivery: Delivery) -> None:
        self._send_to(self._dlq, [OutgoingMessage(delivery.body, delivery.attributes)])
        self._delete_from(self._url, [delivery.receipt])

    def peek(self, limit: int = 100) -> list[Delivery]:
        seen: dict[str, Delivery] = {}
        for _ in range(max(1, math.ceil(limit / _BATCH)) + 1):
            batch = self._receive_from(self._dlq, _BATCH, 0, 0)
            fresh = [d for d in batch if d.message_id not in seen]
            if not fresh:
                break
            seen.update((d.message_id, d) for d in fresh)
            if len(seen) >= limit:
                break
        return sorted(seen.values(), key=lambda d: d.sent_at)[:limit]

    def redrive(self, message_ids: Sequence[str] | None = None) -> list[Delivery]:
        wanted = None if message_ids is None else set(message_ids)
        moved: list[Delivery] = []
        while True:
            batch = self._receive_from(self._dlq, _BATCH, 0, 30)
            if not batch:
                break
            chosen = [d for d in batch if wanted is None or d.message_id in wanted]
            others = [d for d in batch if d not in chosen]
            if chosen:
                self._send_to(self._url, [OutgoingMessage(d.body, d.attributes) for d in chosen])
                self._delete_from(self._dlq, [d.receipt for d in chosen])
                moved.extend(chosen)
            for other in others:  # give back what was not asked for
                with translated("change visibility"):
                    self._sqs.change_message_visibility(
                        QueueUrl=self._dlq, ReceiptHandle=other.receipt, VisibilityTimeout=0
                    )
            if wanted is not None and len(moved) >= len(wanted):
                break
            if wanted is not None and not chosen:
                break
        return moved

    def purge(self) -> int:
        count = 0
        while True:
            batch = self._receive_from(self._dlq, _BATCH, 0, 30)
            if not batch:
                return count
            self._delete_from(self._dlq, [d.receipt for d in batch])
            count += len(batch)
