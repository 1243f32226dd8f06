"""The handler API: ``app = JobGate()``, ``@app.job(...)``, ``@app.schedule(...)``.

    app = JobGate()

    @app.job("process_data", max_attempts=3, timeout=300)
    def process_data(payload: dict, ctx: JobContext) -> dict:
        ctx.progress(50, "half way")
        return {"ok": True}

A handler receives the payload and a :class:`JobContext`; it may be ``def`` or ``async def``; its
return value (JSON) is the job's result. Raising :class:`~jobgate.errors.PermanentError` fails the
job at once; any other exception is retried with exponential backoff and jitter until
``max_attempts`` attempts have run. Load your own module with
``jobgate serve --app mypkg.jobs:app``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobgate.domain import schedule as schedule_expr
from jobgate.domain.models import JSON
from jobgate.errors import ConfigurationError, ValidationFailed

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class JobContext(Protocol):
    """What a running handler can see and do. Built by the executor for each attempt."""

    job_id: str
    attempt: int
    owner: str
    job_type: str
    log: Any  # a structlog BoundLogger bound with job id, attempt and owner

    def progress(self, pct: float, note: str = "") -> None:
        """Record progress (0-100) and a short note; visible at ``GET /jobs/{id}``."""
        ...

    def put_artifact(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """Store a file produced by the job; downloadable through a signed URL afterwards."""
        ...

    def cancelled(self) -> bool:
        """True once the job was cancelled (or timed out): stop early and return."""
        ...


Handler = Callable[[Any, JobContext], Any]


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    max_attempts: int
    timeout: float
    description: str = ""


@dataclass(frozen=True)
class ScheduleSpec:
    """A recurring job. ``expression`` is EventBridge syntax; ticks enqueue ``job_type``."""

    name: str
    expression: str
    job_type: str
    payload: JSON
    schedule: schedule_expr.Schedule = field(compare=False, repr=False)


class JobGate:
    """The registry of job types and schedules for one application."""

    def __init__(self) -> None:
        self.job_types: dict[str, JobType] = {}
        self.schedules: dict[str, ScheduleSpec] = {}

    def job(
        self, name: str, *, max_attempts: int = 3, timeout: float = 300.0
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler of job type ``name``."""
        if not _NAME.match(name):
            raise ValueError(f"job type {name!r}: use lowercase letters, digits, '_', '.', '-'")
        if not 1 <= max_attempts <= 100:
            raise ValueError("max_attempts must be between 1 and 100")
        if not 0 < timeout <= 12 * 3600:
            raise ValueError("timeout must be between 0 and 43200 seconds")

        def register(fn: Handler) -> Handler:
            if name in self.job_types:
                raise ValueError(f"job type {name!r} is registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()
            self.job_types[name] = JobType(name, fn, max_attempts, timeout, doc[0] if doc else "")
            return fn

        return register

    def schedule(
        self,
        expression: str,
        *,
        job_type: str,
        payload: JSON = None,
        name: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Enqueue ``job_type`` with ``payload`` on every tick of ``expression``.

        Used bare over a handler, ``job_type`` may name that handler's own type. Raises
        ValidationFailed at import time when the expression is not EventBridge syntax.
        """
        parsed = schedule_expr.parse(expression)
        spec_name = name or f"{job_type}:{expression}"

        def register(fn: Handler) -> Handler:
            self.add_schedule(ScheduleSpec(spec_name, expression, job_type, payload, parsed))
            return fn

        return register

    def add_schedule(self, spec: ScheduleSpec) -> None:
        if spec.name in self.schedules:
            raise ValueError(f"schedule {spec.name!r} is defined twice")
        self.schedules[spec.name] = spec

    def get(self, job_type: str) -> JobType:
        """The registered type; ValidationFailed (422) naming the known ones otherwise."""
        try:
            return self.job_types[job_type]
        except KeyError:
            known = ", ".join(sorted(self.job_types)) or "none"
            raise ValidationFailed(f"unknown job type {job_type!r}; known types: {known}") from None

    def check(self) -> None:
        """Fail fast when a schedule names a job type that is not registered."""
        for spec in self.schedules.values():
            if spec.job_type not in self.job_types:
                raise ValueError(f"schedule {spec.name!r} names unknown job type {spec.job_type!r}")


def load_app(reference: str) -> JobGate:
    """Import ``module.path:attribute`` and return the :class:`JobGate` it names.

    The current folder is searched first, as ``python -m`` and uvicorn do, so
    ``jobgate serve --app yourpkg.jobs:app`` works from the folder holding ``yourpkg``.
    Raises :class:`~jobgate.errors.ConfigurationError` saying what is wrong and how to fix it.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"--app {reference!r}: use 'package.module:attribute'")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"--app {reference!r}: no module {exc.name!r} (looked in {here} and the installed "
            "packages; run from the folder that holds your package, or set PYTHONPATH)"
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"--app {reference!r}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    app = getattr(module, attribute, None)
    if not isinstance(app, JobGate):
        raise ConfigurationError(
            f"--app {reference!r}: {module_name} has no JobGate instance named {attribute!r}"
        )
    app.check()
    return app
