"""Request plumbing shared by the routers: credentials, JSON bodies, absolute URLs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
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


bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


async def credentials(
    bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),  # noqa: B008
    api_key: str | None = Security(api_key_scheme),
) -> str | None:
    """The raw API key from either header (checked later, inside the route's thread)."""
    if bearer is not None:
        return bearer.credentials
    return api_key


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
