"""Running the real ``terraform`` offline: the AWS provider from the machine's filesystem mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT


def _deploy_module() -> Any:
    """infra/deploy.py (a script, not a package): the mirror lookup and CLI configuration the
    deploy commands use, so the tests run Terraform exactly as they do."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "jobgate_infra_deploy", ROOT / "infra" / "deploy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


_deploy = _deploy_module()
provider_mirror = _deploy.provider_mirror
cli_config = _deploy.cli_config

TERRAFORM_DIR = ROOT / "infra" / "terraform"
MODULES = sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
LAYERS = [TERRAFORM_DIR / "deploy" / name for name in ("10_core", "20_infra", "30_app")]
ROOTS = [*MODULES, *LAYERS, TERRAFORM_DIR / "bootstrap"]


def require_terraform() -> tuple[str, Path]:
    """terraform and the mirror, or a skip saying what is missing (a failure under CI=true)."""
    binary, mirror = shutil.which("terraform"), provider_mirror()
    if binary and mirror:
        return binary, mirror
    missing = (
        "terraform is not on PATH"
        if not binary
        else "no AWS provider mirror found (set TF_PROVIDER_MIRROR)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing}: the infrastructure tests cannot run")
    pytest.skip(f"{missing}: infrastructure tests skipped")


class Terraform:
    """``terraform`` with a CLI config of its own (filesystem mirror, no registry, no checkpoint)
    and working data under ``work`` so the repository is not written to."""

    def __init__(self, work: Path, extra_env: dict[str, str] | None = None) -> None:
        self.binary, mirror = require_terraform()
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        config = work / "cli.tfrc"
        config.write_text(cli_config(mirror))
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            **(extra_env or {}),
        }

    def run(
        self, directory: Path, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        data_dir = (
            self.work / "data" / directory.relative_to(TERRAFORM_DIR).as_posix().replace("/", "__")
        )
        env = {**self.env, "TF_DATA_DIR": str(data_dir)}
        done = subprocess.run(
            [self.binary, f"-chdir={directory}", *args, "-no-color"],
            env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} in {directory.relative_to(ROOT)} failed "
                f"({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def init(self, directory: Path, *backend: str) -> None:
        self.run(directory, "init", "-input=false", *(backend or ("-backend=false",)))

    def outputs(self, directory: Path) -> dict[str, Any]:
        raw = json.loads(self.run(directory, "output", "-json").stdout)
        return {name: value["value"] for name, value in raw.items()}
