"""Settings of the ``aws`` backend, under the seeds' variable names (no ``JOBGATE_`` prefix).

| variable | meaning |
| --- | --- |
| ``AWS_REGION`` | region of every resource |
| ``AWS_ENDPOINT_URL`` | optional: point every client at an emulator (moto, LocalStack) |
| ``JOBS_TABLE_NAME``, ``EVENTS_TABLE_NAME``, ``USERS_TABLE_NAME`` | DynamoDB tables |
| ``JOBS_QUEUE_URL``, ``JOBS_DLQ_URL`` | SQS queue and its dead-letter queue |
| ``S3_BUCKET_NAME`` | blobs: payloads, results, artifacts |
| ``API_KEY_SECRET_ARN`` | optional: Secrets Manager secret holding the admin API key |
| ``NOTIFICATIONS_TOPIC_ARN`` | optional: SNS topic of every notice (email, SMS need it) |
| ``JOBS_STREAM_ARN`` | optional: the jobs table's stream, which notifications are read from \
(the notifier and the ``notifications`` cron rule need it) |

:func:`load` names every missing variable at once, so a deploy fails at start-up, not at the
first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobgate.envsettings import EnvSettings, SettingsInvalid, text
from jobgate.errors import ConfigurationError

if TYPE_CHECKING:
    from jobgate.backends.aws import AwsResources

REQUIRED = (
    "AWS_REGION",
    "JOBS_TABLE_NAME",
    "EVENTS_TABLE_NAME",
    "USERS_TABLE_NAME",
    "JOBS_QUEUE_URL",
    "JOBS_DLQ_URL",
    "S3_BUCKET_NAME",
)
OPTIONAL = ("AWS_ENDPOINT_URL", "API_KEY_SECRET_ARN", "NOTIFICATIONS_TOPIC_ARN", "JOBS_STREAM_ARN")


def _required(variable: str) -> str:
    return text(env=variable, min_length=1)  # type: ignore[no-any-return]


def _optional(variable: str) -> str | None:
    return text(None, env=variable)  # type: ignore[no-any-return]


class AwsSettings(EnvSettings):
    """``AwsSettings()`` reads the variables; ``AwsSettings(_env_file=None,
    _environ=environment_for(...))`` reads a mapping instead."""

    region: str = _required("AWS_REGION")
    endpoint_url: str | None = _optional("AWS_ENDPOINT_URL")
    jobs_table: str = _required("JOBS_TABLE_NAME")
    events_table: str = _required("EVENTS_TABLE_NAME")
    users_table: str = _required("USERS_TABLE_NAME")
    queue_url: str = _required("JOBS_QUEUE_URL")
    dlq_url: str = _required("JOBS_DLQ_URL")
    bucket: str = _required("S3_BUCKET_NAME")
    api_key_secret_arn: str | None = _optional("API_KEY_SECRET_ARN")
    notifications_topic_arn: str | None = _optional("NOTIFICATIONS_TOPIC_ARN")
    jobs_stream_arn: str | None = _optional("JOBS_STREAM_ARN")


def environment_for(resources: AwsResources, secret_arn: str | None = None) -> dict[str, str]:
    """The variables that point jobgate at ``resources`` (what a deploy sets on a function)."""
    env = {
        "AWS_REGION": resources.region,
        "JOBS_TABLE_NAME": resources.jobs_table,
        "EVENTS_TABLE_NAME": resources.events_table,
        "USERS_TABLE_NAME": resources.users_table,
        "JOBS_QUEUE_URL": resources.queue_url,
        "JOBS_DLQ_URL": resources.dlq_url,
        "S3_BUCKET_NAME": resources.bucket,
    }
    if resources.endpoint_url:
        env["AWS_ENDPOINT_URL"] = resources.endpoint_url
    if resources.notifications_topic_arn:
        env["NOTIFICATIONS_TOPIC_ARN"] = resources.notifications_topic_arn
    if secret_arn:
        env["API_KEY_SECRET_ARN"] = secret_arn
    if resources.jobs_stream_arn:
        env["JOBS_STREAM_ARN"] = resources.jobs_stream_arn
    return env


def load() -> AwsSettings:
    """Read the environment; ConfigurationError naming every missing or empty variable."""
    try:
        return AwsSettings()
    except SettingsInvalid as exc:
        missing = sorted(name for name, _ in exc.problems)
        raise ConfigurationError(
            "the aws backend needs these environment variables: " + ", ".join(missing)
        ) from None
