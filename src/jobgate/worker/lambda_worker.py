"""The Lambda runtimes: an SQS batch worker and the EventBridge cron handler.

Built by :mod:`jobgate.bootstrap` and called by the entry points in :mod:`jobgate.aws_lambda`.

**SQS batches** (event source mapping with ``ReportBatchItemFailures``): each record is claimed,
run and settled like the long-poll worker does, and the settle's
:class:`~jobgate.services.attempt.MessageAction` becomes the record's fate:

| action | what happens | in ``batchItemFailures`` |
| --- | --- | --- |
| ack | nothing: Lambda deletes a record that is not reported | no |
| release(delay) | the message's visibility is set to the delay | yes |
| bury | the message moves to the DLQ (sent, then deleted) | no |
| leave | nothing: it comes back after its visibility timeout | yes |

**Time limits**: an attempt may run for the lesser of its job type's timeout and the
invocation's remaining time less ``margin`` (what settling needs). Past it the attempt is
settled as a retryable timeout and its record reported, before Lambda ends the invocation,
for ``def`` and ``async def`` handlers alike. Records not started because too little time is
left are reported untouched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jobgate.domain.models import Delivery
from jobgate.errors import ConfigurationError
from jobgate.logs import get_logger
from jobgate.registry import JobGate
from jobgate.services.attempt import Disposition, MessageAction, Outcome, Run
from jobgate.services.execute import Executor
from jobgate.services.maintenance import Reconciler
from jobgate.services.schedules import ScheduleService
from jobgate.worker.notifier import Notifier

#: the rule (and value of an event's ``jobgate`` field) that runs the reconciler
HOUSEKEEPING = "housekeeping"
#: the rule that dispatches and sends notices (webhooks; SNS publishing of every event)
NOTIFICATIONS = "notifications"
_NOTIFY_MARGIN_SECONDS = 10.0  # left for the last pass's sends to finish and be stored


def delivery_of(record: Mapping[str, Any]) -> Delivery:
    """An SQS event record as a :class:`Delivery`."""
    attributes = record.get("attributes") or {}
    return Delivery(
        message_id=record["messageId"],
        receipt=record["receiptHandle"],
        body=record["body"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        attributes={
            name: str(value.get("stringValue", ""))
            for name, value in (record.get("messageAttributes") or {}).items()
        },
        sent_at=int(attributes.get("SentTimestamp", 0)) / 1000,
    )


def timeout_findings(app: JobGate, function_timeout: float, margin: float) -> list[str]:
    """Job types whose timeout cannot fit one invocation of a worker function that runs for
    ``function_timeout`` seconds (with ``margin`` kept for settling), each with its fix."""
    room = function_timeout - margin
    return [
        f"job type {name!r} has a timeout of {spec.timeout:g} s but the worker function runs "
        f"for {function_timeout:g} s ({room:g} s once {margin:g} s are kept for settling): "
        f"its attempts would be cut short; raise the function's timeout above "
        f"{spec.timeout + margin:g} s or lower the job type's timeout"
        for name, spec in sorted(app.job_types.items())
        if spec.timeout > room
    ]


class LambdaWorker:
    """Runs one SQS batch per invocation; answers the partial batch response."""

    def __init__(
        self, executor: Executor, *, margin_seconds: float, min_start_seconds: float
    ) -> None:
        self._executor = executor
        self._margin = margin_seconds
        self._min_start = min_start_seconds
        self._log = get_logger(worker_id=executor.worker_id)

    def handle(
        self, records: Sequence[Mapping[str, Any]], remaining: Callable[[], float]
    ) -> dict[str, list[dict[str, str]]]:
        """``remaining()``: seconds left in the invocation (the context's clock)."""
        deliveries = [delivery_of(record) for record in records]
        failed: list[str] = []
        executor = self._executor
        with executor.backend.atomic():
            known = executor.read_jobs(deliveries)
            for index, delivery in enumerate(deliveries):
                if remaining() - self._margin < self._min_start:
                    # Out of time: give back this record and every later one, unstarted.
                    failed.extend(d.message_id for d in deliveries[index:])
                    break
                try:
                    action = self._one(delivery, known.get(delivery.message_id), remaining)
                except Exception as exc:  # storage trouble: let Lambda retry this record
                    self._log.error("record_failed", message_id=delivery.message_id, error=str(exc))
                    failed.append(delivery.message_id)
                    continue
                if self._act(delivery, action):
                    failed.append(delivery.message_id)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def _one(self, delivery: Delivery, known: Any, remaining: Callable[[], float]) -> MessageAction:
        begun = self._executor.begin(delivery, known)
        if not isinstance(begun, Run):
            return begun
        limit = min(begun.job.timeout, remaining() - self._margin)
        outcome: Outcome = self._executor.run_within(begun, limit)
        return self._executor.settle(begun, outcome)

    def _act(self, delivery: Delivery, action: MessageAction) -> bool:
        """Do what the action asks of the message; True when the record is to be reported."""
        if action.disposition is Disposition.RELEASE:
            self._executor.release(delivery, action.delay)
            return True
        if action.disposition is Disposition.BURY:
            self._executor.apply(delivery, action)
            return False
        return action.disposition is Disposition.LEAVE


class CronHandler:
    """Enqueues the tick an EventBridge scheduled event names, once however often delivered
    (the event's ``time`` is the tick, so the idempotency key ``schedule:{name}:{tick}`` makes a
    redelivered event enqueue nothing new); the housekeeping rule runs the reconciler; the
    notifications rule dispatches new events (SNS, webhook deliveries) and sends what is due,
    pass after pass until nothing is left, polling on for ``notify_poll_seconds`` more (0: the
    rule's period bounds a notice's delay; ~50 with a one-minute rule: about a second, for the
    price of a function that is always running)."""

    def __init__(
        self,
        app: JobGate,
        schedules: ScheduleService,
        reconciler: Reconciler,
        notifier: Callable[[], Notifier | None] = lambda: None,
        notify_poll_seconds: float = 0.0,
    ) -> None:
        self._app = app
        self._schedules = schedules
        self._reconciler = reconciler
        self._notifier = notifier
        self._notify_poll_seconds = notify_poll_seconds

    def handle(
        self, event: Mapping[str, Any], left: Callable[[], float] | None = None
    ) -> dict[str, Any]:
        """Run what the rule names; ``left``: the invocation's remaining seconds."""
        name = event.get("schedule") or event.get("jobgate") or self._name_for(event)
        if name == HOUSEKEEPING and name not in self._app.schedules:
            report = self._reconciler.run_once()
            return {"housekeeping": True, **dataclasses.asdict(report)}
        if name == NOTIFICATIONS and name not in self._app.schedules:
            notifier = self._notifier()
            if notifier is None:
                raise ConfigurationError("this backend keeps no notifications")
            budget = left or seconds_left(None)
            attempted = notifier.drain(
                lambda: budget() - _NOTIFY_MARGIN_SECONDS, self._notify_poll_seconds
            )
            return {"notifications": True, "attempted": attempted}
        spec = self._app.schedules.get(str(name))
        if spec is None:
            raise ConfigurationError(f"no schedule named {name!r} in this app")
        tick = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
        created = self._schedules.enqueue_tick(spec, tick)
        return {"schedule": spec.name, "tick": event["time"], "created": bool(created)}

    def _name_for(self, event: Mapping[str, Any]) -> str:
        """The schedule a rule stands for: its name is ``<prefix>-<schedule>``, and of the
        names that fit, the longest wins (rule ``x-nightly-report`` is ``nightly-report``, not
        ``report``)."""
        resources = event.get("resources") or []
        rule = str(resources[0]).rsplit("/", 1)[-1] if resources else ""
        names = [*self._app.schedules, HOUSEKEEPING, NOTIFICATIONS]
        fitting = [n for n in names if _fits(rule, rule_suffix(n))]
        if not fitting:
            known = ", ".join(sorted(self._app.schedules)) or "none"
            raise ConfigurationError(
                f"EventBridge rule {rule or '(none)'!r} names no schedule of this app "
                f"(schedules: {known}; and {HOUSEKEEPING!r}, {NOTIFICATIONS!r}): rules are named "
                f"'<prefix>-<schedule name>'"
            )
        return max(fitting, key=len)


def _fits(rule: str, suffix: str) -> bool:
    return rule == suffix or rule.endswith(f"-{suffix}")


def rule_suffix(schedule_name: str) -> str:
    """The part of a rule's name that names a schedule (rule names allow [.-_A-Za-z0-9])."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in schedule_name)


def seconds_left(context: Any, clock: Callable[[], float] = time.monotonic) -> Callable[[], float]:
    """The invocation's remaining seconds, from the Lambda context (15 minutes without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return lambda: float(remaining()) / 1000
    end = clock() + 900.0
    return lambda: end - clock()
