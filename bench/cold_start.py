"""Cold start of the Lambda entry points, against seed-style baselines, in fresh processes.

    python bench/cold_start.py [--runs 7]

Each figure is the median wall time of ``--runs`` fresh Python processes that import the module
and build what the first invocation needs (settings, services, the DynamoDB and SQS clients, and
for the API the FastAPI app and Mangum; S3 when first used). Nothing goes over the network.

* ``api_handler``: ``jobgate.aws_lambda`` + services + ``create_app`` + Mangum.
* ``worker_handler``: ``jobgate.aws_lambda`` + services (no FastAPI, no Mangum).
* ``seed_style_api`` (baseline): FastAPI + Mangum + one boto3 client + pydantic-settings.
* ``bare_boto3`` (baseline): ``import boto3`` + one client.
Aims (issue 3): api ≤ seed-style; worker ≤ 1.3x bare boto3.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENV = {
    "JOBGATE_BACKEND": "aws",
    "JOBGATE_APP": "jobgate.demo:app",
    "JOBGATE_ADMIN_KEY": "jg_admin_cold_start_0123456789abcdef",
    "JOBGATE_LOG_LEVEL": "warning",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold",
    "AWS_SECRET_ACCESS_KEY": "cold",
    "JOBS_TABLE_NAME": "jobs",
    "EVENTS_TABLE_NAME": "events",
    "USERS_TABLE_NAME": "users",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "JOBS_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq",
    "S3_BUCKET_NAME": "blobs",
}

PROGRAMS = {
    "api_handler": (
        "import jobgate.aws_lambda as m\n"
        "from mangum import Mangum\n"
        "from jobgate.api.app import create_app\n"
        "s = m._services()\n"
        "Mangum(create_app(s), lifespan='off')\n"
        "s.backend.jobs._db.meta, s.backend.queue._sqs.meta  # the clients a submit needs\n"
        "import sys\n"
        "assert 'prometheus_client' not in sys.modules, 'api path grew'\n"
    ),
    "worker_handler": (
        "import jobgate.aws_lambda as m\n"
        "s = m._services()\n"
        "s.backend.jobs._db.meta, s.backend.queue._sqs.meta  # the clients a batch needs\n"
        "import sys\n"
        "grew = {'fastapi', 'mangum', 'opentelemetry', 'prometheus_client'} & set(sys.modules)\n"
        "assert not grew, f'worker path grew: {grew}'\n"
    ),
    "seed_style_api": (
        "import boto3\n"
        "from fastapi import FastAPI\n"
        "from mangum import Mangum\n"
        "from pydantic_settings import BaseSettings\n"
        "class S(BaseSettings):\n"
        "    users_table_name: str = 'users'\n"
        "s = S()\n"
        "table = boto3.resource('dynamodb', region_name='us-east-1').Table(s.users_table_name)\n"
        "app = FastAPI()\n"
        "@app.get('/users/{user_id}')\n"
        "def get_user(user_id: str) -> dict:\n"
        "    return {}\n"
        "handler = Mangum(app, lifespan='off')\n"
    ),
    "bare_boto3": "import boto3\nboto3.client('sqs', region_name='us-east-1')\n",
}


_DEPLOYED: list[str] = []  # --from-zips: the task root and the layer, unzipped read-only


def run_once(program: str) -> float:
    if _DEPLOYED:
        # as Lambda runs it: only the unzipped code, nothing writable, no site-packages
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}, **ENV}
        prefix = f"import sys; sys.path[:0] = {_DEPLOYED!r}\n"
        # -B: nothing is written (as root, a read-only mode bit would not stop it; Lambda's
        # code folders are a read-only file system)
        command = [sys.executable, "-I", "-S", "-B", "-c", prefix + program]
    else:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT / "src")}
        # A deployed function ships compiled modules: let the warm-up run write .pyc files.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-c", program]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    return time.perf_counter() - started


def unzip_read_only(into: Path, strip_bytecode: bool) -> list[str]:
    """build/lambda's zips unzipped as Lambda does (code in the task root, the layer under
    /opt), made read-only; ``strip_bytecode``: without their ``__pycache__`` folders."""
    import shutil
    import zipfile

    task, opt = into / "task", into / "opt"
    zipfile.ZipFile(ROOT / "build" / "lambda" / "function.zip").extractall(task)
    zipfile.ZipFile(ROOT / "build" / "lambda" / "layer.zip").extractall(opt)
    if strip_bytecode:
        for cache in [*into.rglob("__pycache__")]:
            shutil.rmtree(cache)
    for path in into.rglob("*"):
        path.chmod(path.stat().st_mode & ~0o222)
    return [str(task), str(opt / "python")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--from-zips",
        action="store_true",
        help="run from build/lambda's zips unzipped read-only (make package first)",
    )
    parser.add_argument(
        "--strip-bytecode", action="store_true", help="with --from-zips: without the .pyc files"
    )
    args = parser.parse_args()
    import tempfile

    scratch = tempfile.TemporaryDirectory(prefix="jobgate-cold-")
    if args.from_zips:
        _DEPLOYED.extend(unzip_read_only(Path(scratch.name), args.strip_bytecode))
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # warm the page cache
    report: dict[str, object] = {}
    for name, program in PROGRAMS.items():
        run_once(program)  # warm-up: .pyc files and page cache
        times = [run_once(program) for _ in range(args.runs)]
        report[name] = {"median_ms": round(statistics.median(times) * 1000, 1),
                        "min_ms": round(min(times) * 1000, 1)}  # fmt: skip
    api, worker = report["api_handler"], report["worker_handler"]
    seed, boto = report["seed_style_api"], report["bare_boto3"]
    report["api_vs_seed_style"] = round(api["median_ms"] / seed["median_ms"], 3)  # type: ignore[index]
    report["worker_vs_bare_boto3"] = round(worker["median_ms"] / boto["median_ms"], 3)  # type: ignore[index]
    report["from_zips"] = {"bytecode": not args.strip_bytecode} if args.from_zips else False
    print(json.dumps(report, indent=2))
    for path in Path(scratch.name).rglob("*"):  # writable again, so it can be removed
        path.chmod(path.stat().st_mode | 0o200)
    scratch.cleanup()


if __name__ == "__main__":
    main()
