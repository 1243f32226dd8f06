"""The Terraform as written: formatted, valid with the real AWS provider (offline), scanned."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.infra.terraform import ROOTS, TERRAFORM_DIR, Terraform
from tests.processes import ROOT

pytestmark = pytest.mark.slow


def test_terraform_is_formatted(tmp_path: Path) -> None:
    done = Terraform(tmp_path).run(
        TERRAFORM_DIR, "fmt", "-check", "-recursive", "-diff", check=False
    )
    assert done.returncode == 0, f"run `terraform fmt -recursive infra/terraform`:\n{done.stdout}"


def test_every_module_layer_and_bootstrap_validates(tmp_path: Path) -> None:
    terraform = Terraform(tmp_path)

    def validate(directory: Path) -> str:
        terraform.init(directory)
        done = terraform.run(directory, "validate", check=False)
        if done.returncode != 0 or "Warning" in done.stdout + done.stderr:
            return f"{directory.relative_to(ROOT)}:\n{done.stdout}{done.stderr}"
        return ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for p in pool.map(validate, ROOTS) if p]
    assert not problems, "\n".join(problems)
    assert len(ROOTS) == 13  # 9 modules, 3 layers, bootstrap


def checkov() -> Path | None:
    candidates = [os.environ.get("CHECKOV", ""), str(ROOT / ".venv-checkov" / "bin" / "checkov")]
    return next((Path(c) for c in candidates if c and Path(c).exists()), None)


def test_checkov_finds_nothing_in_infra() -> None:
    binary = checkov()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("checkov is missing: `make test` installs it in .venv-checkov")
        pytest.skip("checkov not installed (make checkov)")
    done = subprocess.run(
        [str(binary), "-d", str(ROOT / "infra"), "--framework", "terraform", "--skip-download",
         "--compact", "--quiet"],
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Failed checks: 0" in done.stdout or done.stdout.strip() == "", done.stdout


#: resource type prefix => the provider's endpoint name that serves it
_SERVICES = {
    "aws_apigatewayv2_": "apigatewayv2", "aws_apprunner_": "apprunner",
    "aws_cloudwatch_event_": "events", "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_": "cloudwatch", "aws_dynamodb_": "dynamodb", "aws_ecr_": "ecr",
    "aws_iam_": "iam", "aws_kms_": "kms", "aws_lambda_": "lambda", "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager", "aws_sns_": "sns", "aws_sqs_": "sqs",
}  # fmt: skip


def test_every_service_the_layers_use_goes_to_the_emulator_when_one_is_set() -> None:
    """An emulator run must never reach AWS itself: each service a layer's resources (and its
    modules') use has an entry in the provider's endpoints block."""
    import re

    shared = (TERRAFORM_DIR / "deploy" / "_shared" / "providers.tf").read_text()
    block = shared[shared.index("endpoints {") :].split("}", 1)[0]
    routed = set(re.findall(r"^\s*(\w+)\s*=\s*var\.aws_endpoint", block, re.M))
    used = set()
    for path in TERRAFORM_DIR.glob("**/*.tf"):
        if "bootstrap" in path.parts or ".terraform" in path.parts:
            continue
        for kind in re.findall(r'(?:resource|data)\s+"(aws_\w+)"', path.read_text()):
            service = next((s for p, s in _SERVICES.items() if kind.startswith(p)), None)
            if kind.startswith(("aws_caller_identity", "aws_iam_policy_document", "aws_region")):
                continue
            assert service is not None, f"{path.name}: {kind} has no service in _SERVICES"
            used.add(service)
    assert used - routed == set(), "used by the layers, but not sent to the emulator"
