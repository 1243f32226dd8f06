"""The one place that turns errors into HTTP: ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobgate.errors import BackendUnavailable, JobGateError
from jobgate.logs import get_logger

PROBLEM = "application/problem+json"
_log = get_logger(component="api")
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, title, detail, instance, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def problem_body(
    status: int, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-").replace("'", "")
    return {
        "type": f"https://jobgate.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }


def problem_of(exc: JobGateError, instance: str) -> dict[str, Any]:
    """The problem body of a jobgate error (what its own response would carry)."""
    extra = {
        k: v
        for k, v in exc.extra.items()
        if k not in _RESERVED and isinstance(v, str | int | float | list)
    }
    return problem_body(exc.status, exc.title, exc.detail, instance, **extra)


def unexpected(instance: str) -> JSONResponse:
    """The 500 of an error nobody handled, logged with its traceback (call it in the
    ``except``); the answer says nothing of the error itself."""
    _log.exception("unhandled_error", path=instance)
    return problem(500, "Internal error", "an unexpected error occurred", instance)


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the rejected input (it may be huge, or a secret)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type")}
        for e in errors
    ]


def install(app: FastAPI) -> None:
    async def on_jobgate_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, JobGateError)
        headers = None
        if isinstance(exc, BackendUnavailable):
            headers = {"Retry-After": str(exc.retry_after)}
            _log.warning("backend_unavailable", detail=exc.detail)
        if exc.status >= 500 and not isinstance(exc, BackendUnavailable):
            _log.error("internal_error", error=exc.detail)
        body = problem_of(exc, request.url.path)
        return JSONResponse(body, status_code=exc.status, media_type=PROBLEM, headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem(
            422,
            "Validation failed",
            "the request is not valid",
            request.url.path,
            errors=clean_errors(exc.errors()),
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "HTTP error"),
            str(exc.detail),
            request.url.path,
            dict(exc.headers) if exc.headers else None,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected(request.url.path)

    app.add_exception_handler(JobGateError, on_jobgate_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
