"""Request plumbing shared by the routers: credentials, JSON bodies, absolute URLs."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from jobgate.api.body import check_media_type
from jobgate.errors import StorageBusy
from jobgate.ports import Backend

F = TypeVar("F", bound=Callable[..., Any])


class Runner:
    """Where the routes' backend calls run.

    * Reads (``@runner.reads``, :meth:`read`): with a backend of fast local I/O (SQLite,
      sub-millisecond; WAL readers never wait for a writer) right on the event loop: one thread
      does the API's work, with no thread-pool hop and no GIL contention (which cost ~10x
      throughput here). With a network backend the route stays sync and FastAPI runs it in its
      thread pool.
    * Writes (``@runner.writes``, :meth:`write`): locally, on the loop when the database's write
      lock is free at once (one transaction, begun without waiting), else in one writer thread,
      so a write waiting for the lock (another process holds it) blocks no other request; each
      write waits at most ``write_wait`` seconds from its request's arrival, then answers 503 +
      Retry-After. With a network backend, the thread pool.
    """

    def __init__(self, backend: Backend, write_wait: float) -> None:
        self._inline = backend.inline_io
        self._scope = backend.write_scope
        self._write_wait = write_wait
        self._writer = (
            ThreadPoolExecutor(1, thread_name_prefix="jobgate-writer") if self._inline else None
        )

    def reads(self, fn: F) -> F:
        """Decorator for sync route functions that only read."""
        if not self._inline:
            return fn

        @functools.wraps(fn)
        async def on_loop(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return on_loop  # type: ignore[return-value]

    def writes(self, fn: F) -> F:
        """Decorator for sync route functions that write."""
        if self._writer is None:
            return fn

        @functools.wraps(fn)
        async def in_writer(*args: Any, **kwargs: Any) -> Any:
            return await self.write(lambda: fn(*args, **kwargs))

        return in_writer  # type: ignore[return-value]

    async def read(self, fn: Callable[[], T]) -> T:
        return fn() if self._inline else await run_in_threadpool(fn)

    async def write(self, fn: Callable[[], T], since: float | None = None) -> T:
        """Run ``fn`` where writes run; ``since``: when the oldest request it serves arrived
        (``time.monotonic()``), from which its wait is counted (default: now)."""
        if self._writer is None:
            return await run_in_threadpool(fn)
        arrived = time.monotonic() if since is None else since
        try:
            with self._scope(0):  # the lock is free: write right here, no thread hop
                return fn()
        except StorageBusy:
            pass  # raised before anything was written: wait for the lock in the writer thread

        def bounded() -> T:
            left = self._write_wait - (time.monotonic() - arrived)
            if left <= 0:
                raise StorageBusy("the database is busy: try again shortly")
            with self._scope(left):
                return fn()

        return await asyncio.get_running_loop().run_in_executor(self._writer, bounded)


T = TypeVar("T")


SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
PUBLIC: dict[str, Any] = {"security": []}  # openapi_extra for routes that need no key


async def credentials(request: Request) -> str | None:
    """The raw API key from ``Authorization: Bearer`` or ``X-API-Key`` (checked later).

    Read straight from the headers: FastAPI's security classes cost a dependency each per
    request, and the OpenAPI document declares the schemes once (:func:`document_security`).
    """
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return request.headers.get("x-api-key")


def document_security(app: FastAPI) -> None:
    """Declare both key schemes in the OpenAPI document, required unless a route opts out."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{"bearer": []}, {"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request; 415 for another media type, 413 past the size limit."""
    check_media_type(request.headers.get("content-type"))
    return await request.body()


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for routes that validate their body from raw bytes."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def absolute(request: Request, public_url: str | None, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    base = public_url or str(request.base_url)
    return base.rstrip("/") + path


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/problem+json": {}}}
    for code, text in {
        400: "Malformed request",
        401: "Missing or invalid API key",
        404: "Not found (or another owner's)",
        409: "Conflict with the current state",
        413: "Body too large",
        415: "Not application/json",
        422: "Validation failed",
        503: "Backend unavailable (see Retry-After)",
    }.items()
}
