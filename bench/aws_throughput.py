"""Worker throughput on the aws backend against moto's server, with AWS calls counted per job.

    python bench/aws_throughput.py [--jobs 500] [--concurrency 4]

Prints JSON: jobs/s for a ``Worker`` draining ``--jobs`` no-op jobs (DynamoDB ledger + SQS +
events), the AWS calls it made per job (by operation), the queue depth it started from, and a
baseline in the same run: a raw boto3 loop draining as many messages with receive-10 +
delete-batch (no ledger), and Celery draining as many no-op tasks through its SQS transport
(kombu) on the same emulator, when Celery is installed (``pip install -e '.[bench]'``). moto
slows down as a queue grows deep, so every drain starts from the same depth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
REGION = "us-east-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-writes", action="store_true",
                        help="JOBGATE_WORKER_BATCH_WRITES (transactions)")  # fmt: skip
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery baseline")
    args = parser.parse_args()

    import boto3

    from jobgate import bootstrap, logs
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision
    from jobgate.registry import JobGate
    from jobgate.settings import Settings

    logs.configure("warning")
    # moto's server in its own process, as a real emulator would be (in-process, its threads
    # would compete with the worker's for the GIL)
    sys.path.insert(0, str(ROOT / "bench"))
    from emulator import start_moto

    server, endpoint = start_moto()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=endpoint,
    )  # fmt: skip
    session = boto3.session.Session()
    empty = AwsResources(REGION, "", "", "", "", "", "", endpoint)
    made = provision(clients(empty, session), f"bench{uuid.uuid4().hex[:6]}", REGION)
    os.environ.update(
        JOBS_TABLE_NAME=made.jobs_table, EVENTS_TABLE_NAME=made.events_table,
        USERS_TABLE_NAME=made.users_table, JOBS_QUEUE_URL=made.queue_url,
        JOBS_DLQ_URL=made.dlq_url, S3_BUCKET_NAME=made.bucket,
    )  # fmt: skip
    app = JobGate()
    app.job("noop")(lambda payload, ctx: None)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, backend="aws", admin_key="x" * 24, data_dir=Path("/tmp/jobgate-bench"),
        worker_concurrency=args.concurrency, worker_prefetch=10, poll_wait_seconds=1,
        worker_batch_writes=args.batch_writes,
    )  # fmt: skip
    services = bootstrap.build(settings, app)
    for n in range(args.jobs):
        services.jobs.submit("bench", "noop", n)
    depth = services.backend.queue.stats().depth

    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for client in (services.backend.jobs._db, services.backend.queue._sqs):  # type: ignore[attr-defined]
        client.meta.events.register("before-call", count)
    worker = services.worker("bench")
    thread = threading.Thread(target=worker.run, daemon=True)
    moto_cpu, own_cpu = cpu_seconds(server.pid), time.process_time()
    started = time.perf_counter()
    thread.start()
    while worker.processed < args.jobs:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    moto_cpu, own_cpu = cpu_seconds(server.pid) - moto_cpu, time.process_time() - own_cpu
    worker.stop()
    thread.join(30)

    baseline = raw_drain(session, endpoint, args.jobs)
    celery = None if args.no_celery else celery_drain(endpoint, args.jobs, args.concurrency)
    total_calls = sum(calls.values())
    print(json.dumps({
        "jobs": args.jobs,
        "queue_depth_at_start": depth,
        "worker_concurrency": args.concurrency,
        "batch_writes": args.batch_writes,
        "jobs_per_s": round(args.jobs / elapsed, 1),
        "aws_calls_per_job": round(total_calls / args.jobs, 2),
        "aws_calls_by_operation": dict(calls.most_common()),
        # where the time went: CPU seconds per second of the drain (1.0 = one core busy)
        "emulator_cpu_share": round(moto_cpu / elapsed, 2),
        "worker_cpu_share": round(own_cpu / elapsed, 2),
        "raw_boto3_drain_messages_per_s": baseline,
        "vs_raw_drain": round(args.jobs / elapsed / baseline, 3),
        "celery": celery,
        "vs_celery": round(args.jobs / elapsed / celery["tasks_per_s"], 2) if celery else None,
    }, indent=2))  # fmt: skip
    server.terminate()
    server.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_drain(session: Any, endpoint: str, count: int) -> float:
    """Baseline: send ``count`` messages, then drain them with receive-10 + delete-batch."""
    sqs = session.client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName=f"raw{uuid.uuid4().hex[:6]}")["QueueUrl"]
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": "{}"} for i in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    drained, started = 0, time.perf_counter()
    while drained < count:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ])  # fmt: skip
            drained += len(messages)
    return round(count / (time.perf_counter() - started), 1)


def celery_drain(endpoint: str, count: int, concurrency: int) -> dict[str, Any] | None:
    """Baseline: ``count`` no-op Celery tasks queued, then drained by one Celery worker
    (prefork, ``concurrency`` processes) over kombu's SQS transport against the same emulator.
    The rate is taken between the first and the last task's completion, so the worker's own
    start-up (a few seconds) does not count against it."""
    try:
        import celery
    except ImportError:
        return None
    import subprocess
    import tempfile

    host_port = endpoint.removeprefix("http://")
    queue = f"celery{uuid.uuid4().hex[:6]}"
    done = Path(tempfile.mkdtemp()) / "done.log"
    env = {**os.environ, "CELERY_BENCH_BROKER": f"sqs://bench:bench@{host_port}",
           "CELERY_BENCH_QUEUE": queue, "CELERY_BENCH_DONE": str(done),
           "PYTHONPATH": str(ROOT / "bench")}  # fmt: skip
    os.environ.update({k: v for k, v in env.items() if k.startswith("CELERY_BENCH")})
    sys.path.insert(0, str(ROOT / "bench"))
    from celery_noop import app, noop

    app.conf.broker_url = env["CELERY_BENCH_BROKER"]
    app.conf.task_default_queue = queue
    with app.connection_for_write() as connection:
        for n in range(count):
            noop.apply_async((n,), connection=connection)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_noop", "worker", "--pool", "prefork",
         "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "warning", "-Q", queue],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            lines = done.read_text().split() if done.exists() else []
            if len(lines) >= count:
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    stamps = sorted(float(x) for x in lines)
    if len(stamps) < count:
        return {"error": f"only {len(stamps)} of {count} tasks ran in 600 s"}
    return {
        "tasks": count,
        "concurrency": concurrency,
        "tasks_per_s": round((count - 1) / (stamps[-1] - stamps[0]), 1),
        "celery": celery.__version__,
    }


if __name__ == "__main__":
    main()
