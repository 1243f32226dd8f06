"""The notifications topic on SNS. Translation only.

Every notice is published with message attributes ``event_type``, ``job_type``, ``owner``,
``status`` (and ``event_id``), so any AWS consumer — an SQS queue, a Lambda, an HTTPS endpoint,
email or SMS — can subscribe with a filter policy on them. A message is published with
``MessageStructure=json``: the Standard Webhooks body for machines (``default``), a readable
text for email and a short one for SMS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from jobgate.backends.aws.errors import translated, unavailable
from jobgate.domain.notices import TopicMessage

_PER_BATCH = 10  # PublishBatch's limit


class SnsTopic:
    """:class:`~jobgate.ports.NoticeTopic` on one SNS topic."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._sns = client
        self._arn = topic_arn

    def publish(self, messages: Sequence[TopicMessage]) -> None:
        for start in range(0, len(messages), _PER_BATCH):
            chunk = messages[start : start + _PER_BATCH]
            entries = [
                {
                    "Id": str(n),
                    "Message": json.dumps(
                        {"default": m.body, "email": m.text, "email-json": m.body, "sms": m.sms}
                    ),
                    "MessageStructure": "json",
                    "Subject": m.subject[:99],
                    "MessageAttributes": {
                        name: {"DataType": "String", "StringValue": value}
                        for name, value in m.attributes.items()
                    },
                }
                for n, m in enumerate(chunk)
            ]
            with translated("publish notices"):
                answer = self._sns.publish_batch(
                    TopicArn=self._arn, PublishBatchRequestEntries=entries
                )
            if answer.get("Failed"):
                raise unavailable("publish notices", answer["Failed"])

    def subscribe(
        self, protocol: str, endpoint: str, filter_policy: Mapping[str, list[str]]
    ) -> tuple[str, bool]:
        with translated("subscribe"):
            answer = self._sns.subscribe(
                TopicArn=self._arn,
                Protocol=protocol,
                Endpoint=endpoint,
                Attributes={"FilterPolicy": json.dumps(filter_policy)},
                ReturnSubscriptionArn=True,
            )
        arn = str(answer["SubscriptionArn"])
        return arn, self.pending(arn)

    def pending(self, subscription_id: str) -> bool:
        with translated("read subscription"):
            attributes = self._sns.get_subscription_attributes(SubscriptionArn=subscription_id)[
                "Attributes"
            ]
        return str(attributes.get("PendingConfirmation", "false")).lower() == "true"

    def unsubscribe(self, subscription_id: str) -> None:
        with translated("unsubscribe"):
            self._sns.unsubscribe(SubscriptionArn=subscription_id)
