"""The README as a new user meets it: the walkthrough script from a fresh copy of the repository
against `make serve`, the README's walkthrough being that script, and its handler example
running as written."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobgate import bootstrap
from jobgate.domain.models import JobStatus
from tests.conftest import make_settings
from tests.processes import ROOT, free_port
from tests.support import running_worker, wait_status

README = ROOT / "README.md"
SCRIPT = ROOT / "examples" / "walkthrough.sh"

pytestmark = [pytest.mark.e2e]


def test_the_readme_walkthrough_is_the_script() -> None:
    text = README.read_text()
    block = re.search(
        r"<!-- examples/walkthrough.sh -->\n```bash\n(.*?)```\n<!-- end of examples/walkthrough.sh -->",
        text,
        re.S,
    )
    assert block is not None, "the README's walkthrough block is missing"
    assert block.group(1) == SCRIPT.read_text()
    assert os.access(SCRIPT, os.X_OK)


def test_the_readme_handler_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the README's "# mypkg/jobs.py" block, saved where the README says
    code = re.search(r"```python\n# mypkg/jobs.py\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(code.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = make_settings(tmp_path / "data", app="mypkg.jobs:app")
    services = bootstrap.build(settings)
    try:
        assert "nightly" in services.app.schedules
        user, _ = services.users.create_user("Ada", "ada@example.com")
        ok, _ = services.jobs.submit(user.user_id, "csv_report", {"rows": [[1, 2], [3, 4]]})
        bad, _ = services.jobs.submit(user.user_id, "csv_report", {})
        with running_worker(services):
            done = wait_status(services, ok.job_id, JobStatus.COMPLETED)
            failed = wait_status(services, bad.job_id, JobStatus.FAILED)
        assert done.result == {"rows": 2, "bytes": 7}
        assert [a.key.rsplit("/", 1)[-1] for a in done.artifacts] == ["report.csv"]
        assert failed.attempt == 1 and failed.error is not None  # PermanentError: no retry
    finally:
        services.close()


def fresh_copy(into: Path) -> Path:
    """The repository's files as a clone would have them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`make serve` in a fresh copy (it installs its own .venv), on a free port."""
    repo = fresh_copy(tmp_path / "jobgate")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGATE_")}
    process = subprocess.Popen(
        ["make", "serve", f"PYTHON={shutil.which('python3')}", f"ARGS=--port {port}"],
        cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        yield repo, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def run_walkthrough(cwd: Path, env: dict[str, str], timeout: float = 400) -> str:
    done = subprocess.run(
        [str(cwd / "examples" / "walkthrough.sh")],
        cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"walkthrough failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    for step in range(1, 9):
        assert f"== {step}." in done.stdout, (step, done.stdout)
    assert "report.txt" in done.stdout or "main.py" in done.stdout  # the ZIP's listing
    assert "cancelled" in done.stdout
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_walkthrough_runs_from_a_fresh_copy_against_make_serve(
    served: tuple[Path, str],
) -> None:
    repo, url = served
    # started at once: the script waits while `make serve` installs
    run_walkthrough(repo, {"JOBGATE_URL": url})


def deploy_local(state_dir: Path, kms: bool) -> dict[str, str]:
    """`make deploy-local` (dev, with or without the KMS key); the URL and key it prints."""
    done = subprocess.run(
        ["make", "-s", "deploy-local", f"ARGS=--{'kms' if kms else 'no-kms'} --state-dir {state_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"deploy-local failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    exported = dict(
        re.findall(r"^export (JOBGATE_URL|JOBGATE_ADMIN_KEY)=(\S+)$", done.stdout, re.M)
    )
    assert set(exported) == {"JOBGATE_URL", "JOBGATE_ADMIN_KEY"}, done.stdout[-2000:]
    return exported


def destroy_local(state_dir: Path) -> None:
    done = subprocess.run(
        ["make", "-s", "destroy-local", f"ARGS=--state-dir {state_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"destroy-local failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert not state_dir.exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_deploy_local_then_the_walkthrough_then_destroy_local_with_and_without_kms(
    tmp_path: Path,
) -> None:
    """The whole AWS path on this machine: Terraform applies dev into the emulator (with the
    KMS key and without, side by side: most of an apply is waiting), jobgate's API and worker
    run on what it made, the walkthrough passes against each, and destroy-local ends it all."""
    from concurrent.futures import ThreadPoolExecutor

    def one(kms: bool) -> str:
        state_dir = tmp_path / ("kms" if kms else "no-kms")
        try:
            found = deploy_local(state_dir, kms)
            work = tmp_path / f"walk-{kms}"
            work.mkdir()
            shutil.copytree(ROOT / "examples", work / "examples")
            return run_walkthrough(work, found)
        finally:
            if (state_dir / "state.json").exists():
                destroy_local(state_dir)

    subprocess.run(
        ["make", "-s", "package"], cwd=ROOT, check=True, capture_output=True, timeout=900
    )  # fmt: skip - once, before the two deploys share its output
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(one, (True, False)))
    assert all("cancelled" in out for out in outputs)
