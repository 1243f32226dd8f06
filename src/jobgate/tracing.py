"""OpenTelemetry traces across the queue, configured only by the standard ``OTEL_*`` variables.

Spans: the HTTP request (``POST /jobs``), ``jobgate.submit``, ``jobgate.enqueue``; in the
worker ``jobgate.claim``, ``jobgate.run <type>`` (the handler: its own spans and log lines nest
under it) and ``jobgate.settle``; ``jobgate.notify.publish``. The W3C ``traceparent`` of the
submit is kept on the job and travels in each queue message (an SQS message attribute; a column
of the local queue), so a worker's spans — on any machine, after any retry or re-send — join
the submitter's trace. Log lines inside a span carry ``trace_id`` and ``span_id``.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set — spans go there as
OTLP over HTTP — or ``OTEL_TRACES_EXPORTER=console``, or a tracer provider is already installed
(the ADOT Lambda layer's wrapper, a test's in-memory exporter); off when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Off, :func:`span` is a no-op that
imports nothing: the Lambda paths and the hot loops pay one boolean test. The SDK and exporter
are the ``otel`` extra: ``pip install 'jobgate[otel]'``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_state: dict[str, Any] = {"on": None}


def enabled() -> bool:
    """Whether spans are made (decided once per process, from the environment)."""
    on = _state["on"]
    if on is None:
        on = _state["on"] = _configure()
    return bool(on)


def _configure() -> bool:
    env = os.environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or exporter == "none":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    wrapped = "otel" in env.get("AWS_LAMBDA_EXEC_WRAPPER", "")  # ADOT installs its provider
    if not (endpoint or exporter in ("otlp", "console") or wrapped):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        from jobgate.logs import get_logger

        get_logger(component="tracing").warning(
            "tracing_unavailable", fix="pip install 'jobgate[otel]' (OTEL_* is set)"
        )
        return False
    if wrapped and not endpoint:
        return True  # the layer's provider exports
    if exporter == "console":
        span_exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_*
    service = env.get("OTEL_SERVICE_NAME", "jobgate")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return True


def use_provider(provider: Any) -> None:
    """Trace with ``provider`` from now on (tests: an in-memory exporter's). The global
    provider is left alone: tests may install several in turn."""
    _state["tracer"] = provider.get_tracer("jobgate")
    _state["on"] = True


def _tracer() -> Any:
    tracer = _state.get("tracer")
    if tracer is None:
        from opentelemetry import trace

        tracer = _state["tracer"] = trace.get_tracer("jobgate")
    return tracer


_OFF: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def span(
    name: str, *, parent: str | None = None, kind: str = "internal", **attributes: Any
) -> contextlib.AbstractContextManager[Any]:
    """A span around the block (a child of the current one, or of ``parent``, a W3C
    traceparent from a message or a job); when tracing is off, a shared no-op (one call and
    one test: nothing is made)."""
    if not enabled():
        return _OFF
    return _span(name, parent, kind, attributes)


@contextlib.contextmanager
def _span(name: str, parent: str | None, kind: str, attributes: dict[str, Any]) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = None
    if parent:
        context = TraceContextTextMapPropagator().extract({"traceparent": parent})
    span_kind = {
        "server": trace.SpanKind.SERVER,
        "producer": trace.SpanKind.PRODUCER,
        "consumer": trace.SpanKind.CONSUMER,
    }.get(kind, trace.SpanKind.INTERNAL)
    clean = {k: v for k, v in attributes.items() if v is not None}
    with _tracer().start_as_current_span(
        name, context=context, kind=span_kind, attributes=clean
    ) as current:
        yield current


def traceparent() -> str | None:
    """The current span's W3C traceparent, for a message or a job; None when off or outside
    any span."""
    if not enabled():
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def log_ids(_: Any, __: str, event: Any) -> Any:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span, when there is
    one (a dictionary lookup when tracing is off)."""
    if _state["on"]:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event.setdefault("trace_id", format(context.trace_id, "032x"))
            event.setdefault("span_id", format(context.span_id, "016x"))
    return event
