"""Lambda entry points: ``api_handler``, ``worker_handler``, ``cron_handler``.

Configure the function with ``JOBGATE_BACKEND=aws``, the aws settings (``jobgate.aws_settings``)
and ``JOBGATE_APP`` naming your handlers. Each container builds what its path needs once, on
its first invocation, through the composition root (:mod:`jobgate.bootstrap`); the worker and
cron paths never import FastAPI or Mangum, and only the API path looks up the admin key.

* ``api_handler``: the FastAPI app through Mangum (API Gateway HTTP API v2 and REST v1 events).
  ``application/problem+json`` answers go out as text, like every ``+json`` type.
* ``worker_handler``: an SQS batch with a partial batch response
  (:class:`~jobgate.worker.lambda_worker.LambdaWorker`: time limits, what each record's fate is).
* ``cron_handler``: an EventBridge scheduled event
  (:class:`~jobgate.worker.lambda_worker.CronHandler`: the rule ``<prefix>-<schedule>`` picks the
  schedule by its exact name; ``<prefix>-housekeeping`` runs the reconciler;
  ``<prefix>-notifications`` dispatches and sends notices).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.RLock()
_state: dict[str, Any] = {}


def _services(*, admin: bool = False) -> Any:
    """The container's services, built once (again with the admin key when a path needs it)."""
    with _lock:
        if "services" not in _state or (admin and not _state["admin"]):
            from jobgate import bootstrap, logs
            from jobgate.settings import Settings

            settings = Settings()
            logs.configure(settings.log_level, settings.log_format)
            _state["services"] = bootstrap.build(settings, admin=admin, metrics="emf")
            _state["admin"] = admin
        return _state["services"]


def _runtime(name: str, context: Any) -> Any:
    with _lock:
        if name not in _state:
            if name == "api":
                from mangum import Mangum
                from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

                app = _services(admin=True).api_app()
                _state[name] = Mangum(
                    app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "+json"]
                )
            elif name == "worker":
                stream = getattr(context, "log_stream_name", "local")
                _state[name] = _services().lambda_worker(f"lambda:{stream}")
            else:
                _state[name] = _services().cron()
        return _state[name]


def _flush_metrics() -> None:
    """The invocation's job metrics as EMF lines (CloudWatch makes metrics of them)."""
    services = _state.get("services")
    if services is not None and services.metrics is not None:
        services.metrics.flush()


def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = _runtime("api", context)(event, context)
    finally:
        _flush_metrics()
    return answer


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run an SQS batch; answer the partial batch response Lambda expects."""
    from jobgate.worker.lambda_worker import seconds_left

    try:
        answer: dict[str, Any] = _runtime("worker", context).handle(
            event.get("Records", []), seconds_left(context)
        )
    finally:
        _flush_metrics()
    return answer


def cron_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Enqueue the tick an EventBridge scheduled event names (once, however often delivered),
    or run the reconciler for the housekeeping rule."""
    from jobgate.worker.lambda_worker import seconds_left

    try:
        answer: dict[str, Any] = _runtime("cron", context).handle(event, seconds_left(context))
    finally:
        _flush_metrics()
    return answer
