"""The composition root: settings → backend → services → runtimes. The only module that
imports a backend.

Every runtime is built here from one :class:`Settings` (and an injectable clock): the HTTP API
(:meth:`Services.api_app`), the long-poll worker (:meth:`Services.worker`), the housekeeper
(:meth:`Services.housekeeper`), the Lambda SQS worker (:meth:`Services.lambda_worker`) and the
cron handler (:meth:`Services.cron`). The FastAPI app factory, the CLI and the Lambda entry
points receive what is built here and configure nothing themselves; nothing is built at import
time, and every default lives once, in the settings.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jobgate.domain.retry import Backoff
from jobgate.errors import ConfigurationError
from jobgate.ports import Backend
from jobgate.registry import JobGate, load_app
from jobgate.services.execute import Executor
from jobgate.services.jobs import JobService
from jobgate.services.maintenance import DeadLetterService, Reconciler
from jobgate.services.schedules import ScheduleService
from jobgate.services.users import UserService
from jobgate.settings import Settings

if TYPE_CHECKING:
    from jobgate.aws_settings import AwsSettings
    from jobgate.metrics import JobMetrics
    from jobgate.services.notify import NotifySettings, SubscriptionService
    from jobgate.worker.lambda_worker import CronHandler, LambdaWorker
    from jobgate.worker.notifier import Notifier
    from jobgate.worker.runner import Worker
    from jobgate.worker.scheduler import Housekeeper


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
    clock: Callable[[], float] = time.time
    metrics: JobMetrics | None = None  # None: no metrics kept (tests, `metrics=None`)

    def executor(self, worker_id: str | None = None) -> Executor:
        return Executor(
            self.backend,
            self.app,
            worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}",
            visibility_timeout=self.settings.visibility_timeout,
            backoff=Backoff(self.settings.retry_base_seconds, self.settings.retry_cap_seconds),
            inline_result_bytes=self.settings.inline_result_bytes,
            batch_writes=self.settings.worker_batch_writes,
            clock=self.clock,
        )

    def worker(self, worker_id: str | None = None) -> Worker:
        """The long-polling worker (``jobgate worker``, ``jobgate serve``)."""
        from jobgate.worker.runner import Worker

        s = self.settings
        return Worker(
            self.executor(worker_id),
            self.backend.queue,
            concurrency=s.worker_concurrency,
            prefetch=s.worker_prefetch,
            batch_window=s.worker_batch_window_ms / 1000,
            poll_wait_seconds=s.poll_wait_seconds,
            heartbeat_interval=s.heartbeat_interval,
            grace_seconds=s.shutdown_grace_seconds,
            # finished runs are settled together where that is one write: a transaction on
            # SQLite, a TransactWriteItems on DynamoDB with JOBGATE_WORKER_BATCH_WRITES
            group_commit=self.backend.inline_io or s.worker_batch_writes,
            await_settle=not self.backend.inline_io,
            # network backends: deletes wait up to a quarter second to go ten to a request
            ack_linger=0.0 if self.backend.inline_io else 0.25,
        )

    def housekeeper(self) -> Housekeeper:
        """Schedules (when ``JOBGATE_SCHEDULER``) and the reconciler, beside a worker."""
        from jobgate.worker.scheduler import Housekeeper

        return Housekeeper(
            self.schedules if self.settings.scheduler else None,
            self.reconciler,
            reconcile_seconds=self.settings.reconcile_interval_seconds,
        )

    def lambda_worker(self, worker_id: str) -> LambdaWorker:
        """The SQS batch worker of a Lambda function; reports, once, job types whose timeout
        cannot fit the function's (``JOBGATE_WORKER_FUNCTION_TIMEOUT_SECONDS``)."""
        from jobgate.logs import get_logger
        from jobgate.worker.lambda_worker import LambdaWorker, timeout_findings

        s = self.settings
        if s.worker_function_timeout_seconds is not None:
            for finding in timeout_findings(
                self.app, s.worker_function_timeout_seconds, s.lambda_settle_margin_seconds
            ):
                get_logger(component="lambda_worker").error("job_timeout_too_long", fix=finding)
        return LambdaWorker(
            self.executor(worker_id),
            margin_seconds=s.lambda_settle_margin_seconds,
            min_start_seconds=s.lambda_min_start_seconds,
        )

    def notify_settings(self) -> NotifySettings:
        from jobgate.domain.addresses import Allowed
        from jobgate.services.notify import NotifySettings

        s = self.settings
        return NotifySettings(
            allowed=Allowed.parse(s.webhook_allowed_hosts),
            require_https=s.webhook_require_https,
            retry_schedule=tuple(s.webhook_retry_schedule),
            disable_after_seconds=s.webhook_disable_after_days * 86400,
            rotation_overlap_seconds=s.webhook_secret_overlap_seconds,
            public_url=s.public_url or f"http://{s.host}:{s.port}",
        )

    def subscriptions(self) -> SubscriptionService:
        from jobgate.services.notify import SubscriptionService

        return SubscriptionService(self.backend, self.notify_settings(), self.clock)

    def notifier(self) -> Notifier | None:
        """Dispatch and delivery of notices (None where the backend keeps none)."""
        if self.backend.notices is None:
            return None
        from jobgate.senders.mail import OutboxMailSender, SmtpMailSender
        from jobgate.senders.webhook import HttpWebhookSender
        from jobgate.services.notify import Deliverer, Dispatcher, MailSender, NoticeWriter
        from jobgate.worker.notifier import Notifier

        s, notify = self.settings, self.notify_settings()
        mail: MailSender | None = None
        if s.smtp_url is not None:
            mail = SmtpMailSender(s.smtp_url.get_secret_value(), s.mail_from)
        elif self.backend.mail_outbox is not None:
            mail = OutboxMailSender(self.backend.mail_outbox, self.clock)
        webhooks = HttpWebhookSender(
            notify.allowed,
            connect_timeout=s.webhook_connect_timeout_seconds,
            read_timeout=s.webhook_read_timeout_seconds,
        )
        deliverer = Deliverer(
            self.backend, self.jobs, notify, webhooks, mail, self.clock, metrics=self.metrics
        )
        return Notifier(
            Dispatcher(self.backend, self.clock, NoticeWriter(self.jobs, notify)),
            deliverer,
            concurrency=s.notify_concurrency,
            idle_wait=s.notify_poll_seconds,
            # SQLite reads cost nothing: no back-off there
            idle_max=s.notify_poll_seconds
            if self.backend.inline_io
            else max(s.notify_poll_seconds, s.notify_idle_max_seconds),
        )

    def cron(self) -> CronHandler:
        from jobgate.worker.lambda_worker import CronHandler

        return CronHandler(
            self.app,
            self.schedules,
            self.reconciler,
            notifier=self.notifier,
            notify_poll_seconds=self.settings.notify_lambda_poll_seconds,
        )

    def api_app(self) -> Any:
        """The FastAPI application (imports FastAPI: only the API paths call this)."""
        from jobgate.api.app import create_app

        return create_app(self)

    def close(self) -> None:
        self.backend.close()


def _secret_file(path: Path, make: bool) -> str | None:
    """Read a secret kept in a file; with ``make``, create it (mode 0600) when missing."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        if not make:
            return None
    value = (
        f"jg_admin_{secrets.token_urlsafe(32)}" if "admin" in path.name else secrets.token_hex(32)
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot keep {path.name} in {path.parent} ({exc.strerror}): give a writable data "
            "folder with --data-dir or JOBGATE_DATA_DIR"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def resolve_admin_key(
    settings: Settings,
    create: bool = False,
    aws: AwsSettings | None = None,
    aws_session: Any = None,
) -> tuple[str | None, bool]:
    """The admin key, and whether it was just created (to print it once on first run).

    Looked up in order: ``JOBGATE_ADMIN_KEY``; on the aws backend the Secrets Manager secret
    ``API_KEY_SECRET_ARN`` names; ``JOBGATE_ADMIN_KEY_FILE``; ``<data dir>/admin_key``.
    """
    if settings.admin_key is not None:
        return settings.admin_key.get_secret_value(), False
    if settings.backend == "aws":
        from jobgate import aws_settings
        from jobgate.backends.aws.secrets import read_secret

        aws = aws or aws_settings.load()
        if aws.api_key_secret_arn:
            client = None
            if aws_session is not None:
                client = aws_session.client(
                    "secretsmanager", region_name=aws.region, endpoint_url=aws.endpoint_url
                )
            value = read_secret(aws.api_key_secret_arn, aws.region, aws.endpoint_url, client=client)
            return value, False
    path = settings.admin_key_file or settings.data_dir / "admin_key"
    existed = path.exists()
    return _secret_file(path, make=create), create and not existed


def build_backend(
    settings: Settings, aws: AwsSettings | None = None, aws_session: Any = None
) -> Backend:
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

        aws = aws or aws_settings.load()
        resources = AwsResources(
            region=aws.region,
            jobs_table=aws.jobs_table,
            events_table=aws.events_table,
            users_table=aws.users_table,
            queue_url=aws.queue_url,
            dlq_url=aws.dlq_url,
            bucket=aws.bucket,
            endpoint_url=aws.endpoint_url,
            notifications_topic_arn=aws.notifications_topic_arn,
            jobs_stream_arn=aws.jobs_stream_arn,
        )
        return build_aws_backend(resources, session=aws_session)
    raise ValueError(f"unknown backend {settings.backend!r}")


def build(
    settings: Settings | None = None,
    app: JobGate | None = None,
    *,
    create_admin_key: bool = False,
    admin: bool = True,
    aws: AwsSettings | None = None,
    aws_session: Any = None,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.time,
    metrics: Literal["prometheus", "emf"] | None = None,
) -> Services:
    """Build every service for ``settings`` (default: from the environment).

    ``aws``: where the aws backend's resources are (default: read from the environment, under
    the seeds' variable names); ``aws_session``: the boto3 session to use (default: one from the
    environment's credentials); ``backend``: one built already (the in-memory backend of
    :mod:`jobgate.testing.memory`) instead of the one the settings name. ``admin=False`` skips
    looking up the admin key: paths that
    serve no HTTP (the worker and cron Lambdas) then need neither the key nor the right to read
    its secret. ``clock`` is every service's clock (tests turn one by hand). ``metrics``: keep
    job metrics for ``GET /metrics`` (``prometheus``: long-running processes) or as EMF lines
    (``emf``: Lambda); off when ``JOBGATE_METRICS=false``.
    """
    settings = settings or Settings()
    app = app or load_app(settings.app)
    backend = backend or build_backend(settings, aws, aws_session)
    job_metrics = None
    if metrics is not None and settings.metrics:
        from dataclasses import replace

        from jobgate.metrics import EmfSink, JobMetrics, MeteredJobStore, PrometheusSink

        sink = (
            EmfSink(settings.metrics_namespace)
            if metrics == "emf"
            else PrometheusSink(backend.queue.stats)
        )
        job_metrics = JobMetrics(sink, clock)
        backend = replace(backend, jobs=MeteredJobStore(backend.jobs, job_metrics))
    admin_key = (
        resolve_admin_key(settings, create_admin_key, aws, aws_session)[0] if admin else None
    )
    jobs = JobService(
        backend,
        app,
        inline_payload_bytes=settings.inline_payload_bytes,
        url_expiry_seconds=settings.url_expiry_seconds,
        clock=clock,
    )
    return Services(
        settings=settings,
        backend=backend,
        app=app,
        jobs=jobs,
        users=UserService(backend, admin_key),
        schedules=ScheduleService(backend, app, jobs, clock=clock),
        reconciler=Reconciler(
            backend,
            stale_queued_seconds=settings.stale_queued_seconds,
            visibility_timeout=settings.visibility_timeout,
            clock=clock,
        ),
        dead_letters=DeadLetterService(backend, app, clock),
        admin_key=admin_key,
        clock=clock,
        metrics=job_metrics,
    )
