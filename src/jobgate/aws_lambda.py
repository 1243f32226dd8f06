"""Lambda entry points: ``api_handler``, ``worker_handler``, ``cron_handler``.

Configure the function with ``JOBGATE_BACKEND=aws``, the aws settings (``jobgate.aws_settings``)
and ``JOBGATE_APP`` naming your handlers. Each container builds its services once, on its first
invocation, and imports only what its path needs: the worker and cron paths never import
FastAPI or Mangum.

* ``api_handler``: the FastAPI app through Mangum (API Gateway HTTP API v2 and REST v1 events).
* ``worker_handler``: an SQS batch (event source mapping with ``ReportBatchItemFailures``).
  A record whose message must come back later (retry backoff, a live lease elsewhere) is
  reported in ``batchItemFailures`` so Lambda leaves it in the queue; records not started when
  the remaining time runs short are reported too, untouched.
* ``cron_handler``: an EventBridge scheduled event; the event's ``time`` is the tick, so the
  idempotency key ``schedule:{name}:{tick}`` makes a redelivered event enqueue nothing new.
  The rule named ``…-housekeeping`` (or an event with ``"jobgate": "housekeeping"``) runs the
  reconciler instead: on Lambda nothing else re-sends stale jobs or expires dead leases.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

_lock = threading.RLock()  # re-entrant: api_handler builds services while holding it
_state: dict[str, Any] = {}

#: a record is only started when at least this much time is left (its own timeout aside)
MIN_REMAINING_MS = 10_000


def _services(*, admin: bool = False) -> Any:
    """The container's services, built once; only the API path looks up the admin key."""
    with _lock:
        if "services" not in _state or (admin and not _state["admin"]):
            from jobgate import bootstrap, logs
            from jobgate.settings import Settings

            settings = Settings()
            logs.configure(settings.log_level, settings.log_format)
            _state["services"] = bootstrap.build(settings, admin=admin)
            _state["admin"] = admin
        return _state["services"]


def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with _lock:
        if "mangum" not in _state:
            from mangum import Mangum

            from jobgate.api.app import create_app

            services = _services(admin=True)
            _state["mangum"] = Mangum(create_app(services), lifespan="off")
        handler = _state["mangum"]
    answer: dict[str, Any] = handler(event, context)
    return answer


class _Released:
    """Wraps the queue to note which receipts the executor gave back (release = keep)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.released: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def release(self, receipt: str, delay_seconds: float) -> None:
        self._queue.release(receipt, delay_seconds)
        self.released.add(receipt)


def _delivery(record: dict[str, Any]) -> Any:
    from jobgate.domain.models import Delivery

    attributes = record.get("attributes", {})
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


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run an SQS batch; answer the partial batch response Lambda expects."""
    from dataclasses import replace

    services = _services()
    with _lock:
        if "executor" not in _state:
            tracked = _Released(services.backend.queue)
            backend = replace(services.backend, queue=tracked)
            from jobgate.services.execute import Executor

            _state["tracked"] = tracked
            _state["executor"] = Executor(
                backend,
                services.app,
                worker_id=f"lambda:{getattr(context, 'log_stream_name', 'local')}",
                visibility_timeout=services.settings.visibility_timeout,
            )
    executor, tracked = _state["executor"], _state["tracked"]
    return {"batchItemFailures": _process(executor, tracked, event.get("Records", []), context)}


def _process(
    executor: Any, tracked: _Released, records: Sequence[dict[str, Any]], context: Any
) -> list[dict[str, str]]:
    """Run the records one by one. The jobs are read in one call up front, and history events
    and message deletes are written in batches when the invocation's scope ends."""
    deliveries = [_delivery(record) for record in records]
    failures: list[dict[str, str]] = []
    with executor.backend.atomic():
        known = executor.read_jobs(deliveries)
        for index, delivery in enumerate(deliveries):
            if _remaining_ms(context) < MIN_REMAINING_MS:
                # Out of time: give back this record and every later one, unstarted.
                failures.extend({"itemIdentifier": d.message_id} for d in deliveries[index:])
                break
            try:
                run = executor.begin(delivery, known.get(delivery.message_id))
                if run is not None:
                    executor.execute(run)
            except Exception:  # storage trouble: let Lambda retry this record
                failures.append({"itemIdentifier": delivery.message_id})
                continue
            if delivery.receipt in tracked.released:
                tracked.released.discard(delivery.receipt)
                failures.append({"itemIdentifier": delivery.message_id})
    return failures


def _remaining_ms(context: Any) -> int:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else 900_000


def cron_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Enqueue the tick an EventBridge scheduled event names (once, however often delivered).

    The schedule is ``event["schedule"]`` when the rule passes one (input transformer), else
    the one whose name the rule's name ends with (``…-<schedule name>``).
    """
    services = _services()
    if _is_housekeeping(event):
        report = services.reconciler.run_once()
        return {"housekeeping": True, **dataclasses.asdict(report)}
    tick = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
    name = event.get("schedule") or _schedule_for_rule(services, event.get("resources") or [])
    spec = services.app.schedules.get(name)
    if spec is None:
        from jobgate.errors import ConfigurationError

        raise ConfigurationError(f"no schedule named {name!r} in this app")
    created = services.schedules.enqueue_tick(spec, tick)
    return {"schedule": spec.name, "tick": event["time"], "created": bool(created)}


#: suffix of the rule (and value of the event's ``jobgate`` field) that runs the reconciler
HOUSEKEEPING = "housekeeping"


def _is_housekeeping(event: dict[str, Any]) -> bool:
    rules = event.get("resources") or []
    rule = str(rules[0]).rsplit("/", 1)[-1] if rules else ""
    return event.get("jobgate") == HOUSEKEEPING or rule.endswith(f"-{HOUSEKEEPING}")


def _schedule_for_rule(services: Any, resources: Sequence[str]) -> str | None:
    rule = resources[0].rsplit("/", 1)[-1] if resources else ""
    for name in services.app.schedules:
        if rule.endswith(_rule_suffix(name)):
            return str(name)
    return None


def _rule_suffix(schedule_name: str) -> str:
    """The part of a rule's name that names a schedule (rule names allow [.-_A-Za-z0-9])."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in schedule_name)
