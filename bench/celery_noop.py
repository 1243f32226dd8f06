"""The Celery baseline's app: one no-op task that notes when it ran (bench/aws_throughput.py).

Configured from the environment the benchmark sets: ``CELERY_BENCH_BROKER`` (``sqs://key:secret@host:port``,
moto's server), ``CELERY_BENCH_QUEUE`` and ``CELERY_BENCH_DONE`` (a file, one line per task).
"""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("celery_noop", broker=os.environ.get("CELERY_BENCH_BROKER", "memory://"))
app.conf.update(
    broker_transport_options={
        "region": os.environ.get("AWS_REGION", "us-east-1"),
        "wait_time_seconds": 1,
        "polling_interval": 0,
    },
    task_default_queue=os.environ.get("CELERY_BENCH_QUEUE", "celery"),
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(n: int) -> None:
    fd = os.open(os.environ["CELERY_BENCH_DONE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time()}\n".encode())
    finally:
        os.close(fd)
