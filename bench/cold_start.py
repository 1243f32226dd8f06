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


def run_once(program: str) -> float:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT / "src")}
    # A deployed function ships compiled modules: let the warm-up run write .pyc files.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
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
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
