"""Request plumbing shared by the routers: credentials, JSON bodies, absolute URLs."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from jobgate.api.body import check_media_type

F = TypeVar("F", bound=Callable[..., Any])


def route_runner(inline_io: bool) -> Callable[[F], F]:
    """Decorator for sync route functions that call the backend.

    With a backend of fast local I/O (SQLite, sub-millisecond), the route runs right on the
    event loop: one thread does all of the API's work, with no thread-pool hop and no GIL or
    write-lock contention between pool threads (which cost ~10x throughput here). With a
    network backend the function stays sync and FastAPI runs it in its thread pool.
    """

    def decorate(fn: F) -> F:
        if not inline_io:
            return fn

        @functools.wraps(fn)
        async def on_loop(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return on_loop  # type: ignore[return-value]

    return decorate


T = TypeVar("T")


def offloader(inline_io: bool) -> Callable[[Callable[[], T]], Awaitable[T]]:
    """For async routes: run a blocking backend call on the loop (local) or in the pool."""

    async def run(fn: Callable[[], T]) -> T:
        return fn() if inline_io else await run_in_threadpool(fn)

    return run


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
