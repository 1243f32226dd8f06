"""Configuration, read from the environment (and ``.env``) by :mod:`jobgate.envsettings`.

Every setting is ``JOBGATE_<NAME>`` (``JOBGATE_DATA_DIR``, ``JOBGATE_ADMIN_KEY`` …); the README's
configuration reference lists them all. Nothing reads settings at import time: the composition
root (:mod:`jobgate.bootstrap`) builds a ``Settings`` and passes what each part needs.
``Settings(**values)`` takes ``values`` over the environment; a wrong or missing value raises
:class:`~jobgate.envsettings.SettingsInvalid` (a ``ConfigurationError``) naming each variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from jobgate.envsettings import (
    EnvSettings,
    Secret,
    choice,
    flag,
    integer,
    number,
    numbers,
    path,
    secret,
    text,
    texts,
)

__all__ = ["Secret", "Settings"]


class Settings(EnvSettings):
    PREFIX: ClassVar[str] = "JOBGATE_"

    backend: Literal["local", "aws"] = choice("local", ("local", "aws"), "Storage backend.")
    app: str = text("jobgate.demo:app", "Module and JobGate instance to load.")
    data_dir: Path = path(Path(".jobgate"), "Local backend data folder.")
    admin_key: Secret | None = secret("Admin API key.")
    admin_key_file: Path | None = path(None, "File holding the admin API key.")
    signing_key: Secret | None = secret("Secret for signed blob URLs.")
    host: str = text("127.0.0.1")
    port: int = integer(8000, ge=0, le=65535)
    public_url: str | None = text(None, "Base URL used in links (default: request's).")
    cors_origins: list[str] = texts("Allowed CORS origins.")
    log_level: Literal["debug", "info", "warning", "error"] = choice(
        "info", ("debug", "info", "warning", "error")
    )
    log_format: Literal["json", "console"] = choice("json", ("json", "console"))
    access_log: bool = flag(True, "Log one line per HTTP request.")

    max_body_bytes: int = integer(1_048_576, "Largest request body (413).", ge=1024)
    max_json_depth: int = integer(32, "Deepest JSON nesting accepted.", ge=2, le=256)
    inline_payload_bytes: int = integer(65_536, "Larger payloads go to blobs.", ge=0)
    inline_result_bytes: int = integer(65_536, "Larger results go to blobs.", ge=0)
    url_expiry_seconds: int = integer(300, ge=1, le=7 * 86400)

    visibility_timeout: float = number(300.0, "Queue visibility timeout (s).", gt=0)
    max_receives: int = integer(10, "Receives before the queue dead-letters.", ge=1)
    worker_concurrency: int = integer(4, "Handler threads per worker.", ge=1, le=256)
    worker_prefetch: int = integer(
        4, "Jobs a worker may claim ahead of a free thread.", ge=0, le=100
    )
    worker_batch_window_ms: float = number(
        5.0, "Wait this long for a fuller batch once one job arrived.", ge=0, le=1000
    )
    worker_batch_writes: bool = flag(
        False,
        "Store a received batch's claims, and the settles of runs that finish together, in one "
        "request where the backend needs one per job: on DynamoDB a TransactWriteItems (fewer "
        "requests, but each item bills twice). SQLite always writes a batch in one transaction.",
    )
    poll_wait_seconds: float = number(20.0, ge=0, le=20)
    shutdown_grace_seconds: float = number(30.0, ge=0)
    retry_base_seconds: float = number(1.0, gt=0)
    retry_cap_seconds: float = number(300.0, gt=0)
    reconcile_interval_seconds: float = number(30.0, gt=0)
    stale_queued_seconds: float = number(600.0, "Re-send queued jobs this old.", gt=0)
    event_retention_days: float = number(30.0, gt=0)
    queue_retention_days: float = number(4.0, gt=0, le=14)
    dlq_retention_days: float = number(14.0, gt=0, le=14)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = choice(
        "NORMAL", ("OFF", "NORMAL", "FULL")
    )
    sqlite_busy_timeout_ms: int = integer(
        5000, "Wait this long for the write lock, then answer 503.", ge=0
    )
    scheduler: bool = flag(True, "Run the in-process scheduler with the worker.")
    lambda_settle_margin_seconds: float = number(
        5.0, "Lambda worker: time kept at the end of an invocation to settle.", ge=0.5
    )
    lambda_min_start_seconds: float = number(
        1.0, "Lambda worker: start no record with less time than this left.", ge=0
    )
    worker_function_timeout_seconds: float | None = number(
        None, "The worker Lambda's timeout (set by Terraform; checked at start).", gt=0
    )

    webhook_allowed_hosts: list[str] = texts(
        "Hosts and CIDRs webhooks may reach although not public (e.g. 127.0.0.1)."
    )
    webhook_require_https: bool = flag(True, "Refuse http:// webhook URLs.")
    webhook_retry_schedule: list[float] = numbers(
        lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        "Seconds before each webhook attempt (comma-separated).",
    )
    webhook_connect_timeout_seconds: float = number(5.0, gt=0)
    webhook_read_timeout_seconds: float = number(10.0, gt=0)
    webhook_disable_after_days: float = number(
        5.0, "Disable a subscription whose deliveries fail this long.", gt=0
    )
    webhook_secret_overlap_seconds: float = number(
        86400.0, "A rotated secret keeps signing this long beside the new one.", ge=0
    )
    notifier: Literal["thread", "process", "off"] = choice(
        "process",
        ("thread", "process", "off"),
        "Where serve/worker send notices: a child process (its own interpreter lock: job "
        "throughput keeps up), a thread, or not at all (run `jobgate notifier` yourself).",
    )
    metrics: bool = flag(True, "Keep job metrics: GET /metrics (Prometheus text), EMF on Lambda.")
    metrics_namespace: str = text(
        "jobgate", "Lambda: the CloudWatch namespace of EMF metrics.", min_length=1
    )
    metrics_token: Secret | None = secret(
        "A bearer token that may read GET /metrics (beside the admin key), for scrapers that "
        "should hold nothing else."
    )
    worker_health_port: int | None = integer(
        None, "jobgate worker: answer GET /healthz on this port.", ge=0, le=65535
    )
    notify_concurrency: int = integer(8, "Sender threads for notices.", ge=1, le=64)
    notify_poll_seconds: float = number(0.05, "Notifier idle wait.", gt=0, le=60)
    notify_idle_max_seconds: float = number(
        2.0,
        "On a network backend (aws), an idle notifier doubles its wait up to this (each pass "
        "reads the stream and the due deliveries: requests that are billed).",
        gt=0,
        le=60,
    )
    notify_lambda_poll_seconds: float = number(
        0.0,
        "Lambda: how long a notifications tick keeps polling (each second) once idle; 0: the "
        "rule's period bounds a notice's delay, ~50 with a one-minute rule: about a second, for "
        "a function that is always running.",
        ge=0,
        le=600,
    )
    smtp_url: Secret | None = secret("smtp://user:pass@host:port for email.")
    mail_from: str = text("jobgate@localhost", "Sender of notice emails.")

    @property
    def heartbeat_interval(self) -> float:
        """Extend leases and visibility three times per timeout, so one lost beat is harmless."""
        return max(0.2, self.visibility_timeout / 3)
