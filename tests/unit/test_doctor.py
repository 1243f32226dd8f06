"""``jobgate doctor``: the shipped environments pass, a broken one fails with the fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobgate import JobGate, doctor
from jobgate.doctor import Deployment
from tests.conftest import make_settings
from tests.processes import ROOT

TERRAFORM = ROOT / "infra" / "terraform"


def run_doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobgate.cli.main", "doctor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )


@pytest.mark.parametrize("env", ["dev", "stage", "prod"])
def test_every_shipped_environment_passes(env: str) -> None:
    checked = run_doctor("--env", env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all good" in checked.stdout


def test_the_old_prod_settings_fail_with_the_fix(tmp_path: Path) -> None:
    # given prod as it was: event-source concurrency 50 over the default reserved 20
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform*"))
    tfvars = copy / "deploy" / "30_app" / "environments" / "prod" / "terraform.tfvars"
    tfvars.write_text(
        "\n".join(
            line
            for line in tfvars.read_text().splitlines()
            if not line.startswith("worker_reserved_concurrency")
        )
    )
    # when doctor checks it, then it fails, saying what is wrong and how to fix it
    checked = run_doctor("--env", "prod", "--terraform", str(copy))
    assert checked.returncode == 1
    assert "ERROR [concurrency]" in checked.stdout
    assert "set worker_reserved_concurrency to at least 50" in checked.stdout


def test_an_unknown_environment_is_a_clear_error() -> None:
    checked = run_doctor("--env", "qa")
    assert checked.returncode == 2 and "qa" in checked.stderr


def small_app(timeout: float = 30, attempts: int = 3) -> JobGate:
    app = JobGate()
    app.job("work", max_attempts=attempts, timeout=timeout)(lambda payload, ctx: None)
    app.schedule("rate(1 hour)", job_type="work", name="hourly")(lambda payload, ctx: None)
    return app


def test_each_check_finds_its_fault() -> None:
    healthy = Deployment(
        "test", worker_timeout=60, visibility_timeout=360, max_receives=10,
        reserved_concurrency=5, max_concurrency=5, schedules={"hourly": "rate(1 hour)"},
    )  # fmt: skip
    assert doctor.check(small_app(), healthy, settle_margin=5) == []
    cases = {
        "job timeout": (small_app(timeout=58), healthy),
        "visibility timeout": (small_app(), Deployment(**{**healthy.__dict__, "visibility_timeout": 300})),
        "concurrency": (small_app(), Deployment(**{**healthy.__dict__, "max_concurrency": 6})),
        "max receives": (small_app(attempts=10), healthy),
        "schedules": (small_app(), Deployment(**{**healthy.__dict__, "schedules": {}})),
        "settings": (small_app(), Deployment(**{**healthy.__dict__, "missing_settings": ["X"]})),
    }  # fmt: skip
    for name, (app, deployment) in cases.items():
        found = doctor.check(app, deployment, settle_margin=5)
        assert [f.check for f in found] == [name], (name, found)
        assert found[0].fix


def test_settings_of_an_aws_process_name_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_QUEUE_URL", raising=False)
    settings = make_settings(tmp_path, backend="aws", worker_function_timeout_seconds=60)
    deployment = doctor.from_settings(settings)
    assert "JOBS_QUEUE_URL" in deployment.missing_settings
    assert deployment.worker_timeout == 60


def test_notification_settings_of_an_aws_process_are_checked(tmp_path: Path) -> None:
    loose = make_settings(
        tmp_path, backend="aws", webhook_allowed_hosts="127.0.0.1", webhook_require_https=False
    )
    found = doctor.notify_findings(loose, topic_arn=None)
    said = " ".join(f.message for f in found)
    for name in ("JOBS_STREAM_ARN", "NOTIFICATIONS_TOPIC_ARN", "JOBGATE_PUBLIC_URL",
                 "ALLOWED_HOSTS", "HTTPS"):  # fmt: skip
        assert name in said, name
    assert all(f.fix for f in found)
    tight = make_settings(tmp_path, backend="aws", public_url="https://api.example.com")
    stream = "arn:aws:dynamodb:us-east-1:1:table/jobs/stream/2026-11-30T00:00:00.000"
    assert doctor.notify_findings(tight, "arn:aws:sns:us-east-1:1:n", stream) == []
    local = make_settings(tmp_path, webhook_allowed_hosts="127.0.0.1")
    assert doctor.notify_findings(local, topic_arn=None) == []  # the embedded backend: a laptop


def test_tfvars_values_and_maps_are_read() -> None:
    text = 'a = 5\nb = "x" # note\nflag = true\nschedules = {\n  nightly = "cron(0 3 * * ? *)"\n}\n'
    assert doctor.read_tfvars(text) == {
        "a": 5, "b": "x", "flag": True, "schedules": {"nightly": "cron(0 3 * * ? *)"},
    }  # fmt: skip
