"""Traces across the queue: one trace from ``POST /jobs`` through the worker's handler span,
on both backends (the aws one through a real SQS message on the emulator), with log lines
carrying its id; and spans exported as OTLP over HTTP to a receiver the test starts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jobgate import bootstrap, logs, tracing
from jobgate.api.app import create_app
from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from jobgate.services.jobs import envelope
from tests.api.conftest import ADMIN
from tests.apps import app as test_app
from tests.conftest import make_settings
from tests.processes import Process, environment, free_port, wait_healthy
from tests.support import provision_aws, running_worker, wait_for, wait_status

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_state", {"on": None})
    tracing.use_provider(provider)
    yield exporter
    provider.shutdown()


@pytest.fixture(params=["local", "aws"])
def services(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    extra: dict[str, Any] = {}
    if request.param == "aws":
        import httpx

        endpoint = request.getfixturevalue("moto_endpoint")
        httpx.post(f"{endpoint}/moto-api/reset")
        provision_aws(endpoint, monkeypatch)
        extra = {"backend": "aws"}
    built = bootstrap.build(make_settings(tmp_path / "data", **extra), test_app)
    yield built
    built.close()


def test_one_trace_from_the_request_to_the_handler(
    spans: InMemorySpanExporter, services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("warning", "json")  # after capsys: the lines land where the test reads
    with TestClient(create_app(services)) as client:
        answer = client.post("/jobs", json={"type": "logs", "payload": {"n": 7}}, headers=ADMIN)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        job = services.backend.jobs.get(job_id)
        assert job is not None and job.trace_parent  # kept on the job ...
        assert envelope(job).attributes["traceparent"] == job.trace_parent  # ... and the message
        with running_worker(services):
            wait_status(services, job_id, JobStatus.COMPLETED, timeout=30)
    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    request, run = by_name["POST /jobs"], by_name["jobgate.run logs"]
    trace_id = request.context.trace_id
    for name in ("jobgate.submit", "jobgate.enqueue", "jobgate.claim", "jobgate.settle"):
        assert by_name[name].context.trace_id == trace_id, name
    assert run.context.trace_id == trace_id

    def parent_of(name: str) -> int:
        parent = by_name[name].parent
        assert parent is not None, name
        return parent.span_id

    submit_id = by_name["jobgate.submit"].context.span_id
    assert parent_of("jobgate.submit") == request.context.span_id
    # the worker's spans hang under the submit span, through the message's traceparent
    assert parent_of("jobgate.run logs") == submit_id
    assert parent_of("jobgate.claim") == submit_id
    assert (run.attributes or {})["job_id"] == job_id
    # the handler's log line carries the trace and its own span
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    (hello,) = [line for line in lines if line.get("event") == "handler_says_hello"]
    assert hello["trace_id"] == format(trace_id, "032x")
    assert hello["span_id"] == format(run.context.span_id, "016x")


class Collector:
    """An OTLP/HTTP receiver on loopback: keeps each request's path and raw (protobuf) body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_spans_are_exported_as_otlp_over_http(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    collector = Collector()
    port = free_port()
    env = environment(tmp_path / "data", app="tests.apps:app")
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_SERVICE_NAME="jobgate-test",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )  # fmt: skip
    served = Process(["serve", "--host", "127.0.0.1", "--port", str(port)], env,
                     tmp_path / "serve.log")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, served)
        import httpx

        job_id = httpx.post(f"{url}/jobs", json={"type": "echo", "payload": {}},
                            headers=ADMIN).json()["job_id"]  # fmt: skip
        wait_for(lambda: httpx.get(f"{url}/jobs/{job_id}", headers=ADMIN).json()["status"]
                 == "completed", timeout=30)  # fmt: skip

        def exported() -> dict[str, set[bytes]]:
            names: dict[str, set[bytes]] = {}
            for path, body in list(collector.received):
                assert path == "/v1/traces"
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            names.setdefault(span.name, set()).add(span.trace_id)
            return names

        found = wait_for(
            lambda: (n := exported()) and {"POST /jobs", "jobgate.run echo"} <= set(n) and n,
            timeout=20,
        )
        assert found["POST /jobs"] & found["jobgate.run echo"], "one trace, both spans"
    finally:
        served.stop()
        collector.stop()
