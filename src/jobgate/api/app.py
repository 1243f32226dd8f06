"""The FastAPI app factory. Thin: routes call services; errors map in :mod:`problems`."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobgate import __version__, tracing
from jobgate.api import (
    problems,
    routes_admin,
    routes_jobs,
    routes_notify,
    routes_ops,
    routes_users,
)
from jobgate.api.body import BodyLimit
from jobgate.api.deps import Runner, document_security
from jobgate.bootstrap import Services
from jobgate.errors import JobGateError
from jobgate.logs import get_logger

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

DESCRIPTION = """
Submit a job and get `202 Accepted` with its status URL at once; a worker runs it with retries;
fetch the result inline or through a short-lived signed URL.

Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors are
`application/problem+json`.
"""


class TraceRequests:
    """A server span per request (joining an incoming ``traceparent``), named after the
    route's template (``POST /jobs/{job_id}``) once the router has matched it. Added only when
    tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"traceparent"), b"")
        method = scope["method"]
        status = 500
        with tracing.span(
            f"{method} {scope['path']}",
            parent=incoming.decode("latin-1") or None,
            kind="server",
            **{"http.request.method": method, "url.path": scope["path"]},
        ) as current:

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    current.update_name(f"{method} {template}")
                    current.set_attribute("http.route", template)
                current.set_attribute("http.response.status_code", status)


class RequestContext:
    """Binds a request id (``X-Request-ID`` in, or a new one) to every log line of the request,
    echoes it in the response, and writes one access line (path only: queries may hold
    signatures)."""

    def __init__(self, app: ASGIApp, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log
        self.log = get_logger(component="http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                request_id = text if _REQUEST_ID.match(text) else ""
                break
        # unique, not secret: Mersenne Twister bits (os.urandom was a system call a request)
        request_id = request_id or f"{random.getrandbits(96):024x}"
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if answered:
                raise  # too late for a problem document: the server ends the response
            # answered here, not by Starlette's outermost layer, so the 500 carries its
            # request id and the log line is bound to it
            await problems.unexpected(scope["path"])(scope, receive, send_with_id)
        finally:
            if self.access_log or status >= 500:
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()


ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class Direct:
    """``POST /jobs``, the hottest route, straight to its endpoint: past Starlette's exception
    layer, FastAPI's router (a match against every route) and its request handler. The
    endpoint takes only the request and builds its own response, so those layers add nothing
    to it; errors go to the same handlers (a ``JobGateError`` to its problem document, anything
    else on to the server-error handler, as before). Innermost of jobgate's middleware, so
    request ids, the body limit, tracing and CORS see the request as they see any other."""

    def __init__(self, app: ASGIApp, route: APIRoute, on_error: ErrorHandler) -> None:
        self.app = app
        self.route, self.endpoint, self.on_error = route, route.endpoint, on_error
        (self.method,) = route.methods or {"POST"}
        self.path = route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the span is named after the route's template
        request = Request(scope, receive)
        response: Response
        try:
            response = await self.endpoint(request)
        except JobGateError as exc:
            answer = self.on_error(request, exc)
            response = answer if isinstance(answer, Response) else await answer
        await response(scope, receive, send)


def add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from assets served here, not from a CDN, so the
    pages work on a machine without internet."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/docs", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="jobgate API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="jobgate API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )


def add_dashboard(app: FastAPI) -> None:
    """``/ui``: the dashboard, static files shipped in the package (no build step, no CDN)."""
    app.mount("/ui/", StaticFiles(directory=Path(__file__).parent / "ui", html=True), name="ui")

    @app.get("/ui", include_in_schema=False)
    async def dashboard() -> RedirectResponse:
        return RedirectResponse("/ui/")


def create_app(services: Services) -> FastAPI:
    settings = services.settings
    app = FastAPI(
        title="jobgate",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    add_docs(app)
    add_dashboard(app)
    app.state.services = services
    problems.install(app)
    document_security(app)
    # writes wait for the database's lock at most the busy timeout, then answer 503
    runner = Runner(services.backend, settings.sqlite_busy_timeout_ms / 1000)
    jobs = routes_jobs.build_router(services, runner)
    app.include_router(jobs)
    app.include_router(routes_jobs.build_seed_router(services, runner))
    app.include_router(routes_users.build_router(services, runner))
    app.include_router(routes_admin.build_router(services, runner))
    app.include_router(routes_ops.build_router(services, runner))
    notify = routes_notify.build_router(services, runner)
    app.include_router(notify)
    app.include_router(notify, prefix="/api", tags=["seed aliases"])  # seed 003's paths
    submit = next(r for r in jobs.routes if isinstance(r, APIRoute) and r.name == "submit")
    app.add_middleware(Direct, route=submit, on_error=app.exception_handlers[JobGateError])
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if tracing.enabled():
        app.add_middleware(TraceRequests)
    app.add_middleware(RequestContext, access_log=settings.access_log)
    return app
