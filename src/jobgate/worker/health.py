"""A worker's health over HTTP, for container platforms that probe a port (App Runner, ECS,
Kubernetes): ``GET /healthz`` answers 200 while the worker's poll loop runs, 503 after; and
``GET /metrics``, the worker's Prometheus metrics (a worker serves no API to scrape). Started
by ``jobgate worker --health-port N`` (``JOBGATE_WORKER_HEALTH_PORT``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        alive: Callable[[], bool],
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/metrics" and metrics is not None:
                    text = metrics()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                if path != "/healthz":
                    self._answer(404, {"status": "not found"})
                    return
                ok = outer._alive()
                self._answer(200 if ok else 503, {"status": "ok" if ok else "stopped"})

            def _answer(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass  # probes every few seconds: not worth a log line each

        self._alive = alive
        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self._server.server_address[1])

    def start(self) -> None:
        threading.Thread(
            target=self._server.serve_forever, name="jobgate-health", daemon=True
        ).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
