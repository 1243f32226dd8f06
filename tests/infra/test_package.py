"""`make package`: the function zip and the dependency layer Lambda runs, within its limits."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.slow
PACKAGE = ROOT / "infra" / "package.py"


def build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PACKAGE), *args], capture_output=True, text=True, timeout=600
    )


def test_the_function_zip_is_reproducible_and_takes_your_handlers(tmp_path: Path) -> None:
    first = build(
        "--out", str(tmp_path / "a"), "--no-layer", "--include", str(ROOT / "tests" / "apps.py")
    )
    second = build(
        "--out", str(tmp_path / "b"), "--no-layer", "--include", str(ROOT / "tests" / "apps.py")
    )
    assert first.returncode == second.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] is True and report["function"]["zipped_bytes"] < 1024 * 1024
    digest = [
        hashlib.sha256((tmp_path / d / "function.zip").read_bytes()).hexdigest() for d in "ab"
    ]
    assert digest[0] == digest[1]  # same input, same bytes: Terraform sees no change
    names = zipfile.ZipFile(tmp_path / "a" / "function.zip").namelist()
    assert {"jobgate/aws_lambda.py", "jobgate/py.typed", "apps.py"} <= set(names)
    # bytecode for the runtime's Python beside every module (Lambda's code folder is read-only)
    sources = [n for n in names if n.endswith(".py")]
    cached = {n for n in names if "__pycache__" in n}
    if sys.version_info[:2] == (3, 11):
        assert cached == {
            f"{n.rpartition('/')[0] + '/' if '/' in n else ''}__pycache__/"
            f"{n.rpartition('/')[2][:-3]}.cpython-311.pyc"
            for n in sources
        }


def test_past_a_limit_the_build_fails_and_says_which(tmp_path: Path) -> None:
    done = build("--out", str(tmp_path), "--no-layer", "--zipped-limit-mb", "0.01")
    assert done.returncode == 1
    assert json.loads(done.stdout)["ok"] is False
    # the message names the file, its size (which grows with the code) and the limit
    assert re.search(r"function\.zip is \d+\.\d MB zipped \(limit 0\.01\)", done.stderr)
    missing = build("--out", str(tmp_path), "--include", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_the_packaged_handlers_import_from_the_zips_alone(tmp_path: Path) -> None:
    """Unzipped as Lambda does (code in the task root, the layer under /opt/python), in an
    isolated interpreter that sees neither this checkout nor the venv's packages."""
    out = ROOT / "build" / "lambda"
    done = build("--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["unzipped_total_bytes"] < 250 * 1024 * 1024
    zipfile.ZipFile(out / "function.zip").extractall(tmp_path / "task")
    zipfile.ZipFile(out / "layer.zip").extractall(tmp_path / "opt")
    for path in tmp_path.rglob("*"):  # read-only, as on Lambda: nothing can be compiled there
        path.chmod(path.stat().st_mode & ~0o222)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import jobgate.aws_lambda, mangum, boto3, fastapi, dotenv, structlog;"
        "from jobgate.api.app import create_app;"
        "import importlib.util as u, os;"
        "stale = [m.__name__ for m in list(sys.modules.values())"
        "         if getattr(m, '__file__', '') and m.__file__.startswith(sys.argv[1])"
        "         and m.__file__.endswith('.py') and not os.path.exists(u.cache_from_source(m.__file__))];"
        "print(jobgate.aws_lambda.__file__, boto3.__file__, len(stale))"
    )
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe, str(tmp_path / "task"), str(tmp_path / "opt" / "python")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    for path in tmp_path.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    assert ran.returncode == 0, ran.stderr
    handler, boto, without_bytecode = ran.stdout.split()
    assert handler.startswith(str(tmp_path / "task")) and boto.startswith(str(tmp_path / "opt"))
    if sys.version_info[:2] == (3, 11):
        assert without_bytecode == "0"  # every jobgate module came with its .pyc
