"""Reading settings from the environment: precedence, each kind of value, and what each bad
value gets (one ``SettingsInvalid`` naming every wrong variable; a secret's text never shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobgate.aws_settings import AwsSettings, load
from jobgate.envsettings import Secret, SettingsInvalid
from jobgate.errors import ConfigurationError
from jobgate.settings import Settings


def settings(environ: dict[str, str], env_file: Path | None = None, **values: object) -> Settings:
    return Settings(_env_file=env_file, _environ=environ, **values)


def test_defaults_when_nothing_is_set() -> None:
    got = settings({})
    assert got.backend == "local" and got.port == 8000 and got.data_dir == Path(".jobgate")
    assert got.admin_key is None and got.cors_origins == [] and got.access_log is True
    assert got.webhook_retry_schedule == [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    assert got.worker_function_timeout_seconds is None
    assert got.heartbeat_interval == 100.0


def test_given_values_then_the_environment_then_the_env_file_then_defaults(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comments and export are python-dotenv's syntax\n"
        "export JOBGATE_PORT=7001\nJOBGATE_HOST='0.0.0.0'\nJOBGATE_LOG_LEVEL=debug\n"
    )
    got = settings({"JOBGATE_PORT": "7002", "jobgate_log_level": "error"}, env_file, port=7003)
    assert got.port == 7003  # given beats the environment
    assert got.log_level == "error"  # the environment (any case) beats the file
    assert got.host == "0.0.0.0"  # the file beats the default
    assert settings({}, tmp_path / "missing.env").port == 8000  # no file: nothing read


def test_each_kind_is_read_from_text() -> None:
    got = settings({
        "JOBGATE_BACKEND": "AWS", "JOBGATE_VISIBILITY_TIMEOUT": "2.5",
        "JOBGATE_ACCESS_LOG": "off", "JOBGATE_SCHEDULER": "Yes",
        "JOBGATE_CORS_ORIGINS": "https://a.example, https://b.example,",
        "JOBGATE_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1", "10.0.0.0/8"]',
        "JOBGATE_WEBHOOK_RETRY_SCHEDULE": "0, 1.5,60", "JOBGATE_DATA_DIR": "/var/jobgate",
        "JOBGATE_ADMIN_KEY": "jg_admin_secret_value", "JOBGATE_WORKER_HEALTH_PORT": "",
    })  # fmt: skip
    assert got.backend == "aws"  # choices match without case, stored as declared
    assert got.visibility_timeout == 2.5 and got.heartbeat_interval == pytest.approx(0.833, 0.01)
    assert got.access_log is False and got.scheduler is True
    assert got.cors_origins == ["https://a.example", "https://b.example"]
    assert got.webhook_allowed_hosts == ["127.0.0.1", "10.0.0.0/8"]
    assert got.webhook_retry_schedule == [0.0, 1.5, 60.0]
    assert got.data_dir == Path("/var/jobgate")
    assert isinstance(got.admin_key, Secret)
    assert got.admin_key.get_secret_value() == "jg_admin_secret_value"
    assert got.worker_health_port is None  # an empty variable leaves an optional one unset


def test_python_values_are_checked_like_text() -> None:
    got = settings({}, data_dir="/tmp/x", visibility_timeout=3, admin_key="k" * 24)
    assert got.data_dir == Path("/tmp/x") and got.visibility_timeout == 3.0
    assert isinstance(got.admin_key, Secret)
    with pytest.raises(SettingsInvalid, match="JOBGATE_PORT: must be a whole number"):
        settings({}, port=True)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("JOBGATE_PORT", "abc", "must be a whole number (got 'abc')"),
        ("JOBGATE_PORT", "70000", "must be ≤ 65535"),
        ("JOBGATE_PORT", "8000.5", "must be a whole number"),
        ("JOBGATE_VISIBILITY_TIMEOUT", "0", "must be > 0"),
        ("JOBGATE_VISIBILITY_TIMEOUT", "nan", "must be a number"),
        ("JOBGATE_MAX_BODY_BYTES", "10", "must be ≥ 1024"),
        ("JOBGATE_BACKEND", "redis", "must be one of local, aws (got 'redis')"),
        ("JOBGATE_ACCESS_LOG", "maybe", "must be true or false"),
        ("JOBGATE_WEBHOOK_RETRY_SCHEDULE", "0,soon", "must be a list of float"),
        ("JOBGATE_WEBHOOK_RETRY_SCHEDULE", "[0, 5", "is not a JSON list"),
        ("JOBGATE_WEBHOOK_RETRY_SCHEDULE", "[true, 5]", "must be a list of float"),
        ("JOBGATE_METRICS_NAMESPACE", "", "must not be empty"),
    ],
)
def test_each_bad_value_names_its_variable_and_what_is_wrong(
    variable: str, value: str, says: str
) -> None:
    with pytest.raises(SettingsInvalid) as raised:
        settings({variable: value})
    ((name, why),) = raised.value.problems
    assert name == variable and says in why
    assert isinstance(raised.value, ConfigurationError)  # the CLI prints it as one line, exit 2


def test_every_wrong_variable_is_reported_at_once() -> None:
    with pytest.raises(SettingsInvalid) as raised:
        settings({"JOBGATE_PORT": "x", "JOBGATE_LOG_LEVEL": "loud", "JOBGATE_HOST": "ok"})
    assert [name for name, _ in raised.value.problems] == ["JOBGATE_PORT", "JOBGATE_LOG_LEVEL"]
    assert str(raised.value).startswith("settings are not valid: JOBGATE_PORT: ")


def test_a_secret_is_never_shown() -> None:
    got = settings({"JOBGATE_SIGNING_KEY": "hunter2-signing-key"})
    assert "hunter2" not in repr(got) and "hunter2" not in str(got.signing_key)
    with pytest.raises(SettingsInvalid) as raised:
        settings({}, smtp_url=12345)
    assert raised.value.problems == [("JOBGATE_SMTP_URL", "is not valid")]


def test_settings_are_frozen_and_take_no_unknown_name() -> None:
    got = settings({})
    with pytest.raises(AttributeError, match="frozen"):
        got.port = 1
    with pytest.raises(TypeError, match="no setting prot"):
        settings({}, prot=1)


def test_aws_settings_name_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    full = {"AWS_REGION": "us-east-1", "JOBS_TABLE_NAME": "jobs", "EVENTS_TABLE_NAME": "events",
            "USERS_TABLE_NAME": "users", "JOBS_QUEUE_URL": "https://q", "JOBS_DLQ_URL": "https://d",
            "S3_BUCKET_NAME": "blobs"}  # fmt: skip
    got = AwsSettings(_env_file=None, _environ=full)
    assert got.jobs_table == "jobs" and got.endpoint_url is None and got.jobs_stream_arn is None
    for name in [*full, "AWS_ENDPOINT_URL", "JOBS_STREAM_ARN"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("JOBS_TABLE_NAME", "")
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(ConfigurationError) as raised:
        load()
    assert str(raised.value) == (
        "the aws backend needs these environment variables: EVENTS_TABLE_NAME, JOBS_DLQ_URL, "
        "JOBS_QUEUE_URL, JOBS_TABLE_NAME, S3_BUCKET_NAME, USERS_TABLE_NAME"
    )
