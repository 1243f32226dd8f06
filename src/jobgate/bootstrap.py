"""The composition root: settings → backend → services. The only module that imports a backend.

The FastAPI app factory, the worker and the CLI receive a :class:`Services` built here and
nothing else; nothing is built at import time.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from jobgate.domain.retry import Backoff
from jobgate.ports import Backend
from jobgate.registry import JobGate, load_app
from jobgate.services.execute import Executor
from jobgate.services.jobs import JobService
from jobgate.services.maintenance import DeadLetterService, Reconciler
from jobgate.services.schedules import ScheduleService
from jobgate.services.users import UserService
from jobgate.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    backend: Backend
    app: JobGate
    jobs: JobService
    users: UserService
    schedules: ScheduleService
    reconciler: Reconciler
    dead_letters: DeadLetterService
    admin_key: str | None

    def executor(self, worker_id: str | None = None) -> Executor:
        return Executor(
            self.backend,
            self.app,
            worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}",
            visibility_timeout=self.settings.visibility_timeout,
            backoff=Backoff(self.settings.retry_base_seconds, self.settings.retry_cap_seconds),
            inline_result_bytes=self.settings.inline_result_bytes,
        )

    def close(self) -> None:
        self.backend.close()


def _secret_file(path: Path, make: bool) -> str | None:
    """Read a secret kept in a file; with ``make``, create it (mode 0600) when missing."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        if not make:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    value = (
        f"jg_admin_{secrets.token_urlsafe(32)}" if "admin" in path.name else secrets.token_hex(32)
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def resolve_admin_key(settings: Settings, create: bool = False) -> tuple[str | None, bool]:
    """The admin key, and whether it was just created (to print it once on first run).

    Looked up in order: ``JOBGATE_ADMIN_KEY``; on the aws backend the Secrets Manager secret
    ``API_KEY_SECRET_ARN`` names; ``JOBGATE_ADMIN_KEY_FILE``; ``<data dir>/admin_key``.
    """
    if settings.admin_key is not None:
        return settings.admin_key.get_secret_value(), False
    if settings.backend == "aws":
        from jobgate import aws_settings
        from jobgate.backends.aws.secrets import read_secret

        aws = aws_settings.load()
        if aws.api_key_secret_arn:
            return read_secret(aws.api_key_secret_arn, aws.region, aws.endpoint_url), False
    path = settings.admin_key_file or settings.data_dir / "admin_key"
    existed = path.exists()
    return _secret_file(path, make=create), create and not existed


def build_backend(settings: Settings) -> Backend:
    if settings.backend == "local":
        from jobgate.backends.local import build_local_backend

        signing = (
            settings.signing_key.get_secret_value()
            if settings.signing_key is not None
            else _secret_file(settings.data_dir / "signing_key", make=True)
        )
        assert signing is not None
        return build_local_backend(
            settings.data_dir,
            signing.encode(),
            synchronous=settings.sqlite_synchronous,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            max_receives=settings.max_receives,
            event_retention_seconds=settings.event_retention_days * 86400,
            queue_retention_seconds=settings.queue_retention_days * 86400,
            dlq_retention_seconds=settings.dlq_retention_days * 86400,
        )
    if settings.backend == "aws":
        from jobgate import aws_settings
        from jobgate.backends.aws import AwsResources, build_aws_backend

        aws = aws_settings.load()
        resources = AwsResources(
            region=aws.region,
            jobs_table=aws.jobs_table,
            events_table=aws.events_table,
            users_table=aws.users_table,
            queue_url=aws.queue_url,
            dlq_url=aws.dlq_url,
            bucket=aws.bucket,
            endpoint_url=aws.endpoint_url,
        )
        return build_aws_backend(
            resources, event_retention_seconds=settings.event_retention_days * 86400
        )
    raise ValueError(f"unknown backend {settings.backend!r}")


def build(
    settings: Settings | None = None,
    app: JobGate | None = None,
    *,
    create_admin_key: bool = False,
    admin: bool = True,
) -> Services:
    """Build every service for ``settings`` (default: from the environment).

    ``admin=False`` skips looking up the admin key: paths that serve no HTTP (the worker and
    cron Lambdas) then need neither the key nor the right to read its secret.
    """
    settings = settings or Settings()
    app = app or load_app(settings.app)
    backend = build_backend(settings)
    admin_key = resolve_admin_key(settings, create=create_admin_key)[0] if admin else None
    jobs = JobService(
        backend,
        app,
        inline_payload_bytes=settings.inline_payload_bytes,
        url_expiry_seconds=settings.url_expiry_seconds,
    )
    return Services(
        settings=settings,
        backend=backend,
        app=app,
        jobs=jobs,
        users=UserService(backend, admin_key),
        schedules=ScheduleService(backend, app, jobs),
        reconciler=Reconciler(
            backend,
            stale_queued_seconds=settings.stale_queued_seconds,
            visibility_timeout=settings.visibility_timeout,
        ),
        dead_letters=DeadLetterService(backend, app),
        admin_key=admin_key,
    )
