"""Structured JSON logs (structlog), bound with request id, job id, attempt and owner.

Secrets never reach a log line: API keys, webhook secrets and signed URLs are never passed to a
logger, and :func:`redact` scrubs any key named like one as a last line of defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from jobgate import tracing

_SECRET_WORDS = ("key", "secret", "token", "password", "authorization", "signature", "url")
_ALLOWED = frozenset({"job_id", "key_id", "idempotency_key", "request_id", "public_url"})


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of any field whose name suggests a secret."""
    for name in list(event):
        lowered = name.lower()
        if lowered not in _ALLOWED and any(word in lowered for word in _SECRET_WORDS):
            event[name] = "[redacted]"
    return event


def configure(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    numeric = logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        tracing.log_ids,  # trace_id / span_id inside a span (nothing when tracing is off)
        redact,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Lines from the standard library's loggers (uvicorn's among them) get the same shape.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    # uvicorn's per-request access lines would duplicate ours and carry query strings
    # (signed URLs carry their signature there).
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("jobgate").bind(**bound)
