"""An HTTP proxy in front of the AWS emulator that counts requests by service and operation.

    python bench/counting_proxy.py <listen port> <emulator url>

Every client of a benchmark (jobgate, Celery's kombu) points ``AWS_ENDPOINT_URL`` here, so both
are counted the same way, at the wire. ``GET /__counts`` answers the counts as JSON and
``POST /__reset`` zeroes them. The operation comes from ``X-Amz-Target`` (JSON protocols:
DynamoDB, SQS), the ``Action`` of a query-protocol body (SNS), or the method (S3); the service
from the signature's credential scope.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")


def operation(headers: dict[str, str], method: str, body: bytes) -> str:
    scope = _SCOPE.search(headers.get("authorization", ""))
    service = scope.group(1) if scope else "unknown"
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if body and "x-www-form-urlencoded" in headers.get("content-type", ""):
        action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return f"{service}:{action[0]}"
    return f"{service}:{method}"


def serve(port: int, upstream: str) -> None:
    target = urlsplit(upstream)
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/__counts":
                with lock:
                    self._answer(200, json.dumps(dict(counts)).encode())
                return
            if self.path == "/__reset":
                with lock:
                    counts.clear()
                self._answer(200, b"{}")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                counts[operation(headers, self.command, body)] += 1
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                local.connection = connection
            try:
                connection.request(self.command, self.path, body, dict(self.headers.items()))
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException):
                local.connection = None
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                local.connection = connection
                connection.request(self.command, self.path, body, dict(self.headers.items()))
                answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 (http.server's names)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
