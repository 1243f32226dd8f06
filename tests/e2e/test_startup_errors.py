"""Start-up problems are one line with the fix, exit code 2, and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.e2e


def jobgate(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JOBGATE_", "JOBS_"))}
    clean.update(PYTHONPATH=str(ROOT / "src"), **env)
    for name in ("AWS_REGION", "S3_BUCKET_NAME", "USERS_TABLE_NAME", "EVENTS_TABLE_NAME"):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "jobgate.cli.main", *args],
        cwd=cwd, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def one_line_exit_2(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_each_start_up_error_is_one_line_with_the_fix(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    one_line_exit_2(
        jobgate("serve", "--app", "nope.jobs:app", *data, cwd=tmp_path), "no module 'nope'"
    )
    one_line_exit_2(
        jobgate("serve", "--app", "json:loads", *data, cwd=tmp_path), "no JobGate instance"
    )
    one_line_exit_2(
        jobgate("serve", "--app", "nocolon", *data, cwd=tmp_path), "package.module:attribute"
    )
    one_line_exit_2(jobgate("serve", *data, cwd=tmp_path, JOBGATE_PORT="abc"), "JOBGATE_PORT")
    one_line_exit_2(jobgate("serve", "--data-dir", "/proc/no/such", cwd=tmp_path), "--data-dir")
    one_line_exit_2(jobgate("serve", *data, cwd=tmp_path, JOBGATE_BACKEND="aws"), "JOBS_QUEUE_URL")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        one_line_exit_2(jobgate("api", "--port", port, *data, cwd=tmp_path), "--port")


def test_app_is_imported_from_the_current_folder(tmp_path: Path) -> None:
    package = tmp_path / "yourpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(
        "from jobgate import JobGate\n\napp = JobGate()\n\n\n"
        "@app.job('hello', timeout=30)\ndef hello(payload, ctx):\n    return payload\n"
    )
    checked = jobgate(
        "doctor", "--env", "dev", "--app", "yourpkg.jobs:app",
        "--terraform", str(ROOT / "infra" / "terraform"), cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "yourpkg.jobs:app" in checked.stdout
