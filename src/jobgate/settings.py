"""Configuration, read from the environment (and ``.env``) by pydantic-settings.

Every setting is ``JOBGATE_<NAME>`` (``JOBGATE_DATA_DIR``, ``JOBGATE_ADMIN_KEY`` …); the README's
configuration reference lists them all. Nothing reads settings at import time: the composition
root (:mod:`jobgate.bootstrap`) builds a ``Settings`` and passes what each part needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JOBGATE_", env_file=".env", extra="ignore", frozen=True
    )

    backend: Literal["local", "aws"] = Field("local", description="Storage backend.")
    app: str = Field("jobgate.demo:app", description="Module and JobGate instance to load.")
    data_dir: Path = Field(Path(".jobgate"), description="Local backend data folder.")
    admin_key: SecretStr | None = Field(None, description="Admin API key.")
    admin_key_file: Path | None = Field(None, description="File holding the admin API key.")
    signing_key: SecretStr | None = Field(None, description="Secret for signed blob URLs.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_url: str | None = Field(None, description="Base URL used in links (default: request's).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed CORS origins."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    access_log: bool = Field(True, description="Log one line per HTTP request.")

    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body (413).")
    max_json_depth: int = Field(32, ge=2, le=256, description="Deepest JSON nesting accepted.")
    inline_payload_bytes: int = Field(65_536, ge=0, description="Larger payloads go to blobs.")
    inline_result_bytes: int = Field(65_536, ge=0, description="Larger results go to blobs.")
    url_expiry_seconds: int = Field(300, ge=1, le=7 * 86400)

    visibility_timeout: float = Field(300.0, gt=0, description="Queue visibility timeout (s).")
    max_receives: int = Field(10, ge=1, description="Receives before the queue dead-letters.")
    worker_concurrency: int = Field(4, ge=1, le=256, description="Handler threads per worker.")
    worker_prefetch: int = Field(
        4, ge=0, le=100, description="Jobs a worker may claim ahead of a free thread."
    )
    worker_batch_window_ms: float = Field(
        5.0, ge=0, le=1000, description="Wait this long for a fuller batch once one job arrived."
    )
    worker_batch_writes: bool = Field(
        False,
        description=(
            "Store a received batch's claims, and the settles of runs that finish together, in "
            "one request where the backend needs one per job: on DynamoDB a TransactWriteItems "
            "(fewer requests, but each item bills twice). SQLite always writes a batch in one "
            "transaction."
        ),
    )
    poll_wait_seconds: float = Field(20.0, ge=0, le=20)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    retry_base_seconds: float = Field(1.0, gt=0)
    retry_cap_seconds: float = Field(300.0, gt=0)
    reconcile_interval_seconds: float = Field(30.0, gt=0)
    stale_queued_seconds: float = Field(600.0, gt=0, description="Re-send queued jobs this old.")
    event_retention_days: float = Field(30.0, gt=0)
    queue_retention_days: float = Field(4.0, gt=0, le=14)
    dlq_retention_days: float = Field(14.0, gt=0, le=14)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    sqlite_busy_timeout_ms: int = Field(
        5000, ge=0, description="Wait this long for the write lock, then answer 503."
    )
    scheduler: bool = Field(True, description="Run the in-process scheduler with the worker.")
    lambda_settle_margin_seconds: float = Field(
        5.0, ge=0.5, description="Lambda worker: time kept at the end of an invocation to settle."
    )
    lambda_min_start_seconds: float = Field(
        1.0, ge=0, description="Lambda worker: start no record with less time than this left."
    )
    worker_function_timeout_seconds: float | None = Field(
        None, gt=0, description="The worker Lambda's timeout (set by Terraform; checked at start)."
    )

    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and CIDRs webhooks may reach although not public (e.g. 127.0.0.1).",
    )
    webhook_require_https: bool = Field(True, description="Refuse http:// webhook URLs.")
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        description="Seconds before each webhook attempt (comma-separated).",
    )
    webhook_connect_timeout_seconds: float = Field(5.0, gt=0)
    webhook_read_timeout_seconds: float = Field(10.0, gt=0)
    webhook_disable_after_days: float = Field(
        5.0, gt=0, description="Disable a subscription whose deliveries fail this long."
    )
    webhook_secret_overlap_seconds: float = Field(
        86400.0, ge=0, description="A rotated secret keeps signing this long beside the new one."
    )
    notifier: Literal["thread", "process", "off"] = Field(
        "process",
        description=(
            "Where serve/worker send notices: a child process (its own interpreter lock: job "
            "throughput keeps up), a thread, or not at all (run `jobgate notifier` yourself)."
        ),
    )
    metrics: bool = Field(
        True, description="Keep job metrics: GET /metrics (Prometheus text), EMF on Lambda."
    )
    metrics_namespace: str = Field(
        "jobgate", min_length=1, description="Lambda: the CloudWatch namespace of EMF metrics."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token that may read GET /metrics (beside the admin key), for "
        "scrapers that should hold nothing else.",
    )
    worker_health_port: int | None = Field(
        None, ge=0, le=65535, description="jobgate worker: answer GET /healthz on this port."
    )
    notify_concurrency: int = Field(8, ge=1, le=64, description="Sender threads for notices.")
    notify_poll_seconds: float = Field(0.05, gt=0, le=60, description="Notifier idle wait.")
    notify_idle_max_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="On a network backend (aws), an idle notifier doubles its wait up to this "
        "(each pass reads the stream and the due deliveries: requests that are billed).",
    )
    notify_lambda_poll_seconds: float = Field(
        0.0,
        ge=0,
        le=600,
        description=(
            "Lambda: how long a notifications tick keeps polling (each second) once idle; 0: "
            "the rule's period bounds a notice's delay, ~50 with a one-minute rule: about a "
            "second, for a function that is always running."
        ),
    )
    smtp_url: SecretStr | None = Field(None, description="smtp://user:pass@host:port for email.")
    mail_from: str = Field("jobgate@localhost", description="Sender of notice emails.")

    @field_validator("cors_origins", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [float(v) for v in value.split(",") if v.strip()]
        return value

    @property
    def heartbeat_interval(self) -> float:
        """Extend leases and visibility three times per timeout, so one lost beat is harmless."""
        return max(0.2, self.visibility_timeout / 3)
