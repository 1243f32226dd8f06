"""Webhook notices on the local backend: latency from completion to verified receipt, and what a
subscription costs the job throughput.

    python bench/notify.py [--jobs 2000] [--rounds 2]

Prints one JSON document. Each round runs the same no-op jobs twice in fresh data folders, in
alternating order: ``none`` (no subscription) and ``webhook`` (one subscription to
``job.completed``, whose receiver — a real HTTP server on loopback — verifies
every delivery with the ``standardwebhooks`` package and notes when it arrived). Throughput is
jobs per second from the first submit to the last completion in the ledger; latency is each
job's ledger ``finished_at`` to its notice's verified receipt. The receiver runs in its own
process. ``webhook_vs_none`` is the ratio
of the medians (aim: at least 0.8).

Not a test: figures depend on the machine. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def serve_receiver(secret: str, port_file: str, log_file: str) -> None:
    """The receiver process: verifies each delivery, appends ``job_id arrival_time`` lines."""
    from standardwebhooks import Webhook

    verifier = Webhook(secret)
    log = open(log_file, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            at = time.time()
            try:
                job_id = verifier.verify(body, dict(self.headers.items()))["data"]["job_id"]
            except Exception:
                job_id = "unverified"
            with lock:
                log.write(f"{job_id} {at}\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


class Receiver:
    """A receiver in its own process, so its work does not share this process's GIL."""

    def __init__(self, secret: str, folder: Path) -> None:
        self.log = folder / "received.log"
        port_file = folder / "port"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-receiver", secret, str(port_file), str(self.log)]
        )
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/hook"

    def arrived(self) -> dict[str, float]:
        found: dict[str, float] = {}
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                job_id, at = line.split()
                found.setdefault(job_id, float(at))
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


BENCH_APP = """
from jobgate import JobGate

app = JobGate()
app.job("noop")(lambda payload, ctx: None)
"""


def notifier_process(folder: Path, settings: Any) -> subprocess.Popen[bytes]:
    """``jobgate notifier`` on the same data folder, as ``JOBGATE_NOTIFIER=process`` runs it."""
    (folder / "bench_app.py").write_text(BENCH_APP)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOBGATE_")},
        "PYTHONPATH": f"{folder}{os.pathsep}{ROOT / 'src'}",
        "JOBGATE_ADMIN_KEY": settings.admin_key.get_secret_value(),
        "JOBGATE_SIGNING_KEY": settings.signing_key.get_secret_value(),
        "JOBGATE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "JOBGATE_WEBHOOK_REQUIRE_HTTPS": "false",
        "JOBGATE_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "jobgate.cli.main", "notifier", "--app", "bench_app:app",
         "--data-dir", str(settings.data_dir)],
        env=env,
    )  # fmt: skip


def run(jobs: int, with_webhook: bool, mode: str) -> dict[str, Any]:
    from jobgate import bootstrap, logs
    from jobgate.domain.notices import Channel, Secret
    from jobgate.registry import JobGate
    from jobgate.settings import Settings

    logs.configure("warning")
    app = JobGate()
    app.job("noop")(lambda payload, ctx: None)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, data_dir=Path(folder), admin_key="a" * 32, signing_key="s" * 32,
            worker_concurrency=2, worker_prefetch=10, poll_wait_seconds=1.0,
            webhook_allowed_hosts=["127.0.0.1"], webhook_require_https=False,
        )  # fmt: skip
        services = bootstrap.build(settings, app)
        notifier = services.notifier() if mode == "thread" else None
        child = notifier_process(Path(folder), settings) if mode == "process" else None
        receiver: Receiver | None = None
        if with_webhook:
            from jobgate.domain.notices import new_secret

            secret = new_secret()
            receiver = Receiver(secret, Path(folder))
            sub = services.subscriptions().subscribe(
                "bench", Channel.WEBHOOK, receiver.url, ["job.completed"]
            )
            subs = services.backend.subscriptions
            assert subs is not None
            subs.save_subscription(replace(sub, secrets=(Secret(secret),)))
        if notifier is not None:
            notifier.start()
        worker = services.worker("bench")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started = time.perf_counter()
        ids = [services.jobs.submit("bench", "noop", {"n": n})[0].job_id for n in range(jobs)]
        while worker.processed < jobs:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        result: dict[str, Any] = {"jobs_per_s": round(jobs / elapsed)}
        if receiver is not None:
            deadline = time.monotonic() + 120
            arrived = receiver.arrived()
            while len(arrived) < jobs and time.monotonic() < deadline:
                time.sleep(0.05)
                arrived = receiver.arrived()
            finished = services.backend.jobs.get_many(ids)
            latencies = [arrived[i] - (finished[i].finished_at or 0) for i in ids if i in arrived]
            result.update(
                delivered=len([i for i in ids if i in arrived]),
                verification_failures=int("unverified" in arrived),
                latency_ms={
                    "p50": round(statistics.median(latencies) * 1000, 1),
                    "p99": round(sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000, 1),
                },
            )
        worker.stop()
        thread.join(10)
        if notifier is not None:
            notifier.stop()
        if child is not None:
            child.terminate()
            child.wait(15)
        if receiver is not None:
            receiver.stop()
        services.close()
        return result


def main() -> None:
    if sys.argv[1:2] == ["--serve-receiver"]:
        serve_receiver(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--notifier",
        choices=["thread", "process"],
        default="process",
        help="run the notifier in the worker's process or beside it (JOBGATE_NOTIFIER)",
    )
    args = parser.parse_args()
    none: list[dict[str, Any]] = []
    webhook: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        order = (False, True) if round_no % 2 == 0 else (True, False)
        for with_webhook in order:
            (webhook if with_webhook else none).append(run(args.jobs, with_webhook, args.notifier))
    median_none = statistics.median(r["jobs_per_s"] for r in none)
    median_webhook = statistics.median(r["jobs_per_s"] for r in webhook)
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "notifier": args.notifier,
                "none": none,
                "webhook": webhook,
                "webhook_vs_none": round(median_webhook / median_none, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
