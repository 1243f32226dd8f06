"""Cold start of the Lambda entry points, against seed-style baselines, in fresh processes.

    python bench/cold_start.py [--runs 7] [--from-zips [--strip-bytecode]] [--first-request]

Each figure is the median wall time of ``--runs`` fresh Python processes that import the module
and build what the first invocation needs (settings, services, the DynamoDB and SQS clients, and
for the API the FastAPI app and Mangum; S3 when first used). Nothing goes over the network.

* ``api_handler``: ``jobgate.aws_lambda`` + services + ``create_app`` + Mangum.
* ``worker_handler``: ``jobgate.aws_lambda`` + services (no FastAPI, no Mangum).
* ``seed_style_api`` (baseline): FastAPI + Mangum + one boto3 client + pydantic-settings
  (jobgate itself reads its settings without it; with ``--from-zips`` the seed gets a read-only
  compiled copy of the installed pydantic-settings beside jobgate's layer, as its own layer would
  hold it).
* ``bare_boto3`` (baseline): ``import boto3`` + one client.
Aims (issue 3): api ≤ seed-style; worker ≤ 1.3x bare boto3.

``--first-request``: each process also serves its first invocation against moto's server
(started here, resources provisioned as ``jobgate aws-local`` does), with the Lambda event
documents AWS wrote (``../shared/aws_events``): the API handler answers ``POST /jobs`` (a
DynamoDB write and an SQS send; 202) beside a seed-style FastAPI + Mangum + boto3 app doing the
same write and send; the worker handler runs one SQS record of a real job beside a bare boto3
``ReceiveMessage``. Each process's peak RSS (``VmHWM``) is reported too. There ``median_ms`` is
the time from the process's start to the first answer in hand (a cold start: Lambda's init and
first invocation; Lambda keeps the process after it), and ``process_median_ms`` the whole
process, exit included (jobgate's API spends ~0.2 s exiting: AnyIO's idle worker thread is
joined).
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
from typing import Any

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


_CONTEXT = (
    "import json, os\n"
    "class Context:\n"
    "    log_stream_name = 'cold'\n"
    "    def get_remaining_time_in_millis(self):\n"
    "        return 60000\n"
    "EVENT = json.loads(os.environ['JOBGATE_BENCH_EVENT'])\n"
)
# VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)
_RSS = (
    # the answer is in hand: what a caller waits for (Lambda keeps the process after it)
    "import time\n"
    "print('answered', time.perf_counter())\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('rss_kb', hwm.split()[1])\n"
)

FIRST_REQUEST = {
    "api_handler": _CONTEXT
    + (
        "import jobgate.aws_lambda as m\n"
        "answer = m.api_handler(EVENT, Context())\n"
        "assert answer['statusCode'] == 202, answer\n"
    )
    + _RSS,
    "worker_handler": _CONTEXT
    + (
        "import jobgate.aws_lambda as m\n"
        "answer = m.worker_handler(EVENT, Context())\n"
        "assert answer == {'batchItemFailures': []}, answer\n"
    )
    + _RSS,
    # the seeds' shape: FastAPI + Mangum + boto3 + pydantic-settings; the same write and send
    "seed_style_api": _CONTEXT
    + (
        "import uuid\n"
        "import boto3\n"
        "from fastapi import FastAPI, Request\n"
        "from fastapi.responses import JSONResponse\n"
        "from mangum import Mangum\n"
        "from pydantic_settings import BaseSettings\n"
        "class S(BaseSettings):\n"
        "    jobs_table_name: str\n"
        "    jobs_queue_url: str\n"
        "s = S()\n"
        "table = boto3.resource('dynamodb').Table(s.jobs_table_name)\n"
        "sqs = boto3.client('sqs')\n"
        "app = FastAPI()\n"
        "@app.post('/jobs')\n"
        "async def submit(request: Request):\n"
        "    body = await request.json()\n"
        "    job_id = str(uuid.uuid4())\n"
        "    table.put_item(Item={'job_id': job_id, 'type': body['type'], 'status': 'queued',\n"
        "                         'owner': 'seed', 'history': [], 'version': 1})\n"
        "    message = json.dumps({'job_id': job_id})\n"
        "    sqs.send_message(QueueUrl=s.jobs_queue_url, MessageBody=message)\n"
        "    return JSONResponse({'job_id': job_id}, status_code=202)\n"
        "answer = Mangum(app, lifespan='off')(EVENT, Context())\n"
        "assert answer['statusCode'] == 202, answer\n"
    )
    + _RSS,
    "bare_boto3": _CONTEXT
    + (
        "import boto3\n"
        "got = boto3.client('sqs').receive_message(QueueUrl=EVENT['queue'], WaitTimeSeconds=0)\n"
        "assert got.get('Messages'), got\n"
    )
    + _RSS,
}

_DEPLOYED: list[str] = []  # --from-zips: the task root and the layer, unzipped read-only
_SEED_EXTRA: list[str] = []  # --from-zips: what only the seed-style app needs (pydantic-settings)


def run_once(program: str, extra: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Wall time of one fresh process running ``program``, its peak RSS (KB) and the time from
    its start to its first answer when it says (``perf_counter`` is the system's monotonic
    clock: the same in both processes)."""
    if _DEPLOYED:
        # as Lambda runs it: only the unzipped code, nothing writable, no site-packages
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}, **ENV}
        paths = [*_DEPLOYED, *(_SEED_EXTRA if "pydantic_settings" in program else [])]
        prefix = f"import sys; sys.path[:0] = {paths!r}\n"
        # -B: nothing is written (as root, a read-only mode bit would not stop it; Lambda's
        # code folders are a read-only file system)
        command = [sys.executable, "-I", "-S", "-B", "-c", prefix + program]
    else:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT / "src")}
        # A deployed function ships compiled modules: let the warm-up run write .pyc files.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-c", program]
    env.update(extra or {})
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    lines = done.stdout.splitlines()
    rss = [int(line.split()[1]) for line in lines if line.startswith("rss_kb")]
    answered = [float(line.split()[1]) - started for line in lines if line.startswith("answered")]
    return elapsed, rss[0] if rss else 0, answered[0] if answered else elapsed


def first_requests(runs: int) -> dict[str, object]:
    """Every first-request program ``runs`` times (after a warm-up) against a fresh emulator:
    median wall time and peak RSS."""
    import boto3

    sys.path.insert(0, str(ROOT / "src"))
    from jobgate.aws_settings import environment_for
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision

    sys.path.insert(0, str(ROOT / "bench"))
    from emulator import start_moto

    moto, endpoint = start_moto()
    try:
        aws = {"AWS_ACCESS_KEY_ID": "cold", "AWS_SECRET_ACCESS_KEY": "cold",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        os.environ.update(aws)
        session = boto3.session.Session()
        made = provision(clients(AwsResources("us-east-1", "", "", "", "", "", "", endpoint),
                                 session), "cold", "us-east-1")  # fmt: skip
        ENV.update({**aws, **environment_for(made)})
        sqs = session.client("sqs")
        events = _Events(made, sqs)
        report: dict[str, object] = {}
        for name, program in FIRST_REQUEST.items():
            make = getattr(events, name)
            run_once(program, {"JOBGATE_BENCH_EVENT": json.dumps(make())})  # warm-up
            done = [run_once(program, {"JOBGATE_BENCH_EVENT": json.dumps(make())})
                    for _ in range(runs)]  # fmt: skip
            report[name] = {
                "median_ms": round(statistics.median(a for _, _, a in done) * 1000, 1),
                "min_ms": round(min(a for _, _, a in done) * 1000, 1),
                "process_median_ms": round(statistics.median(t for t, _, _ in done) * 1000, 1),
                "peak_rss_kb": int(statistics.median(r for _, r, _ in done)),
            }
        return report
    finally:
        moto.terminate()
        moto.wait(10)


class _Events:
    """The first invocation's event of each program, from AWS's own documents."""

    def __init__(self, made: Any, sqs: Any) -> None:
        self._made, self._sqs = made, sqs
        shared = Path(os.environ.get("JOBGATE_SHARED_DIR", ROOT.parent / "shared"))
        self._docs = shared / "aws_events" / "powertools"
        if not self._docs.exists():
            raise SystemExit(
                f"{self._docs} is missing: --first-request reads AWS's event documents"
            )

    def _doc(self, name: str) -> Any:
        return json.loads((self._docs / name).read_text())

    def api_handler(self) -> Any:
        event = self._doc("apiGatewayProxyV2Event.json")
        event["rawPath"], event["rawQueryString"], event["queryStringParameters"] = (
            "/jobs",
            "",
            None,
        )
        event["requestContext"]["http"].update(method="POST", path="/jobs")
        event["headers"] = {**event["headers"], "content-type": "application/json",
                            "authorization": f"Bearer {ENV['JOBGATE_ADMIN_KEY']}"}  # fmt: skip
        event["body"], event["isBase64Encoded"] = json.dumps({"type": "echo", "payload": 1}), False
        return event

    seed_style_api = api_handler

    def worker_handler(self) -> Any:
        """One SQS record of a job submitted just now (the API handler's way)."""
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT / "src")}
        subprocess.run([sys.executable, "-c", (
            "from jobgate import bootstrap\n"
            "bootstrap.build().jobs.submit('cold', 'echo', {'n': 1})\n"
        )], env=env, check=True)  # fmt: skip
        got = self._sqs.receive_message(
            QueueUrl=self._made.queue_url, AttributeNames=["All"],
            MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )  # fmt: skip
        (message,) = got["Messages"]
        record = self._doc("sqsEvent.json")["Records"][1]
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"],
                      body=message["Body"])  # fmt: skip
        record["attributes"]["ApproximateReceiveCount"] = "1"
        record["messageAttributes"] = {
            k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
            for k, v in (message.get("MessageAttributes") or {}).items()
        }
        return {"Records": [record]}

    def bare_boto3(self) -> Any:
        self._sqs.send_message(QueueUrl=self._made.dlq_url, MessageBody="{}")
        return {"queue": self._made.dlq_url}


def unzip_read_only(into: Path, strip_bytecode: bool) -> list[str]:
    """build/lambda's zips unzipped as Lambda does (code in the task root, the layer under
    /opt), made read-only; ``strip_bytecode``: without their ``__pycache__`` folders."""
    import shutil
    import zipfile

    task, opt = into / "task", into / "opt"
    zipfile.ZipFile(ROOT / "build" / "lambda" / "function.zip").extractall(task)
    zipfile.ZipFile(ROOT / "build" / "lambda" / "layer.zip").extractall(opt)
    import compileall

    import pydantic_settings

    seed = into / "seed"
    shutil.copytree(Path(pydantic_settings.__file__).parent, seed / "pydantic_settings",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    compileall.compile_dir(seed, quiet=1)
    _SEED_EXTRA.append(str(seed))
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
    parser.add_argument(
        "--first-request",
        action="store_true",
        help="each process also serves its first invocation against moto's server",
    )
    args = parser.parse_args()
    import tempfile

    scratch = tempfile.TemporaryDirectory(prefix="jobgate-cold-")
    if args.from_zips:
        _DEPLOYED.extend(unzip_read_only(Path(scratch.name), args.strip_bytecode))
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # warm the page cache
    report: dict[str, object] = {}
    if args.first_request:
        report.update(first_requests(args.runs))
    else:
        for name, program in PROGRAMS.items():
            run_once(program)  # warm-up: .pyc files and page cache
            times = [run_once(program)[0] for _ in range(args.runs)]
            report[name] = {"median_ms": round(statistics.median(times) * 1000, 1),
                            "min_ms": round(min(times) * 1000, 1)}  # fmt: skip
    api, worker = report["api_handler"], report["worker_handler"]
    seed, boto = report["seed_style_api"], report["bare_boto3"]
    report["api_vs_seed_style"] = round(api["median_ms"] / seed["median_ms"], 3)  # type: ignore[index]
    report["worker_vs_bare_boto3"] = round(worker["median_ms"] / boto["median_ms"], 3)  # type: ignore[index]
    if args.first_request:
        report["api_rss_vs_seed_style"] = round(api["peak_rss_kb"] / seed["peak_rss_kb"], 3)  # type: ignore[index]
        report["worker_rss_vs_seed_style"] = round(worker["peak_rss_kb"] / seed["peak_rss_kb"], 3)  # type: ignore[index]
    report["from_zips"] = {"bytecode": not args.strip_bytecode} if args.from_zips else False
    print(json.dumps(report, indent=2))
    for path in Path(scratch.name).rglob("*"):  # writable again, so it can be removed
        path.chmod(path.stat().st_mode | 0o200)
    scratch.cleanup()


if __name__ == "__main__":
    main()
