"""What a job costs on AWS: the emulator's requests per job by API, the DynamoDB units, and the
list-price cost per million jobs, for jobgate and for Celery over SQS in the same run.

    python bench/aws_cost.py [--jobs 200] [--batch 25]

moto's server runs in its own process behind ``bench/counting_proxy.py``, which counts every
request at the wire, whoever makes it. jobgate is measured end to end on the aws backend, in
three phases: submit (``JobService.submit``, one job per call, then ``submit_many`` in batches
of ``--batch``: what ``POST /jobs`` and ``POST /jobs/batch`` do), run (a ``Worker`` draining the
queue) and notify (the dispatcher reading the jobs table's stream and publishing every event to
SNS). Twice: with one conditional write per claim and settle (the default), and with
``JOBGATE_WORKER_BATCH_WRITES`` (a batch's in one ``TransactWriteItems``). Celery
(``pip install -e '.[bench]'``) sends as many no-op tasks and drains them with one worker over
kombu's SQS transport.

DynamoDB's write and read units come from ``bench/capacity.py`` (item size measured here, the
indexes each write touches read from the Terraform): moto does not bill. The price list is
capacity's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
REGION = "us-east-1"


class Counts:
    def __init__(self, url: str) -> None:
        self._url = url

    def take(self) -> dict[str, int]:
        """The counts since the last take (and zero them)."""
        with urllib.request.urlopen(f"{self._url}/__counts") as answer:
            counts: dict[str, int] = json.loads(answer.read())
        urllib.request.urlopen(urllib.request.Request(f"{self._url}/__reset", method="POST"))
        return counts


def per_job(counts: dict[str, int], jobs: int) -> dict[str, float]:
    return {op: round(n / jobs, 3) for op, n in sorted(counts.items(), key=lambda kv: -kv[1])}


def jobgate_run(
    endpoint: str, counts: Counts, jobs: int, batch: int, batch_writes: bool
) -> dict[str, Any]:
    import boto3

    from jobgate import bootstrap, logs
    from jobgate.aws_settings import environment_for
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision
    from jobgate.registry import JobGate
    from jobgate.services.jobs import SubmitRequest
    from jobgate.settings import Settings

    logs.configure("warning")
    session = boto3.session.Session()
    empty = AwsResources(REGION, "", "", "", "", "", "", endpoint)
    made = provision(clients(empty, session), f"cost{uuid.uuid4().hex[:6]}", REGION)
    os.environ.update(environment_for(made))
    app = JobGate()
    app.job("noop")(lambda payload, ctx: None)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, backend="aws", admin_key="x" * 24, data_dir=Path("/tmp/jobgate-bench"),
        worker_concurrency=4, worker_prefetch=10, poll_wait_seconds=1, metrics=False,
        worker_batch_writes=batch_writes,
    )  # fmt: skip
    services = bootstrap.build(settings, app)
    notifier = services.notifier()
    assert notifier is not None
    notifier.run_once()  # the dispatcher's first read of its cursor
    counts.take()
    phases: dict[str, dict[str, int]] = {}

    def drain(total: int) -> None:
        worker = services.worker("bench")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        while worker.processed < total:
            time.sleep(0.05)
        worker.stop()
        thread.join(30)

    def notify() -> None:
        while notifier.run_once() or not notifier._dispatcher.idle:
            pass

    started = time.perf_counter()
    for n in range(jobs):
        services.jobs.submit("bench", "noop", n)
    phases["submit_one_per_request"] = counts.take()
    drain(jobs)
    phases["run"] = counts.take()
    notify()
    phases["notify"] = counts.take()
    single_elapsed = time.perf_counter() - started

    for start in range(0, jobs, batch):
        services.jobs.submit_many(
            [SubmitRequest("bench", "noop", n) for n in range(start, min(jobs, start + batch))]
        )
    phases[f"submit_batches_of_{batch}"] = counts.take()
    drain(jobs)
    counts.take()
    notify()
    counts.take()

    item = services.backend.jobs._db.get_item(  # type: ignore[attr-defined]
        TableName=made.jobs_table,
        Key={"job_id": {"S": services.jobs.list_jobs("bench", limit=1).items[0].job_id}},
    )["Item"]
    return {
        "phases": {name: per_job(c, jobs) for name, c in phases.items()},
        "item_bytes": _item_size(item),
        "single_submit_jobs_per_s": round(jobs / single_elapsed, 1),
        "requests_per_job": {
            "one_per_request": _total(phases, "submit_one_per_request", jobs),
            f"batches_of_{batch}": _total(phases, f"submit_batches_of_{batch}", jobs),
        },
    }


def _total(phases: dict[str, dict[str, int]], submit: str, jobs: int) -> float:
    return round(sum(sum(phases[p].values()) for p in (submit, "run", "notify")) / jobs, 2)


def _item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values (strings and numbers by length)."""

    def size(value: dict[str, Any]) -> int:
        kind, inner = next(iter(value.items()))
        if kind in ("S", "N"):
            return len(str(inner).encode())
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in inner)
        if kind == "M":
            return 3 + sum(len(k) + size(v) + 1 for k, v in inner.items())
        return 1

    return sum(len(name) + size(value) for name, value in item.items())


def celery_run(proxy: str, counts: Counts, jobs: int) -> dict[str, Any] | None:
    try:
        import celery  # noqa: F401
    except ImportError:
        return None
    from aws_throughput import celery_drain

    counts.take()
    drained = celery_drain(proxy, jobs, 4)
    taken = counts.take()
    return {
        "tasks_per_s": drained["tasks_per_s"] if drained else None,
        "requests_per_job": round(sum(taken.values()) / jobs, 2),
        "by_operation": per_job(taken, jobs),
    }


def cost(
    result: dict[str, Any], submit: str, batch_submit: int, batch_writes: bool
) -> dict[str, Any]:
    """List-price cost per million jobs: SQS and SNS from the requests counted, DynamoDB from
    the capacity model (measured item size and dispatches), Lambda for SQS batches of 10."""
    import capacity

    phases = result["phases"]
    sqs = sum(v for p in (submit, "run", "notify") for k, v in phases[p].items()
              if k.startswith("sqs:"))  # fmt: skip
    sns_messages = sum(v for k, v in phases["notify"].items() if k.startswith("sns:")) * 10
    load = capacity.Load(rate=1, tenant_rate=1, duration=0.01, batch_submit=batch_submit,
                         polls_per_job=0, batched_transitions=batch_writes,
                         payload_bytes=max(0, result["item_bytes"] - 400 - 3 * 160))  # fmt: skip
    units = capacity.model(load, capacity.tables_from_terraform())["per_job"]
    price = capacity.PRICE
    usd = {
        "dynamodb": units["write_units"] * price["dynamodb_per_million_wru"]
        + units["read_units"] * price["dynamodb_per_million_rru"],
        "sqs": sqs * price["sqs_per_million_requests"],
        "sns": sns_messages * price["sns_per_million_publishes"],
        "lambda_requests": (1 / 10 + 1 / batch_submit) * price["lambda_per_million_requests"],
    }
    return {
        "write_units_per_job": units["write_units"],
        "read_units_per_job": units["read_units"],
        "usd_per_million_jobs": {k: round(v, 2) for k, v in usd.items()}
        | {"total": round(sum(usd.values()), 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=25)
    args = parser.parse_args()
    from emulator import free_port, start_moto, wait_port

    moto, upstream = start_moto()
    proxy_port = free_port()
    proxy = subprocess.Popen([sys.executable, str(ROOT / "bench" / "counting_proxy.py"),
                              str(proxy_port), upstream])  # fmt: skip
    try:
        wait_port(proxy_port)
        endpoint = f"http://127.0.0.1:{proxy_port}"
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true",
        )  # fmt: skip
        counts = Counts(endpoint)
        report: dict[str, Any] = {"jobs": args.jobs}
        for name, batch_writes in (("jobgate", False), ("jobgate_batch_writes", True)):
            result = jobgate_run(endpoint, counts, args.jobs, args.batch, batch_writes)
            result["cost_one_per_request"] = cost(result, "submit_one_per_request", 1, batch_writes)
            result[f"cost_batches_of_{args.batch}"] = cost(
                result, f"submit_batches_of_{args.batch}", args.batch, batch_writes
            )
            report[name] = result
        report["celery_sqs"] = celery_run(endpoint, counts, args.jobs)
        report["aims"] = {"one_per_request": 3.5, f"batches_of_{args.batch}": 1.6}
        print(json.dumps(report, indent=2))
    finally:
        for process in (proxy, moto):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
