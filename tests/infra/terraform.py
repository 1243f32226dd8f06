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

TERRAFORM_DIR = ROOT / "infra" / "terraform"
MODULES = sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
LAYERS = [TERRAFORM_DIR / "deploy" / name for name in ("10_core", "20_infra", "30_app")]
ROOTS = [*MODULES, *LAYERS, TERRAFORM_DIR / "bootstrap"]


def provider_mirror() -> Path | None:
    """The folder holding ``registry.terraform.io`` (TF_PROVIDER_MIRROR, else known places)."""
    candidates = [
        os.environ.get("TF_PROVIDER_MIRROR", ""),
        "/opt/tf-plugins",
        "/usr/share/terraform/plugins",
    ]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


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
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
            "disable_checkpoint = true\n"
        )
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
