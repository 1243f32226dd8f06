"""Throughput of no-op jobs on the local backend, with baselines measured in the same run.

    python bench/throughput.py [--jobs 5000] [--http-requests 5000] [--connections 16] [--wrk 5]

Prints one JSON document:

* ``service``: jobs submitted through ``JobService.submit`` by one thread while a ``Worker``
  runs them in the same process; jobs/s from the first submit to the last completion, submit
  latency p50/p99, and SQLite transactions per job.
* ``sqlite_baseline``: a raw sqlite3 loop doing the same number of write transactions per job
  (same file settings: WAL, synchronous=NORMAL), as jobs/s; ``service_vs_baseline`` is the ratio.
* ``http``: ``POST /jobs`` against a real ``jobgate api`` process, driven by an asyncio
  HTTP/1.1 client with keep-alive connections: requests/s and latency p50/p99; then a
  ``jobgate worker`` process drains the jobs: drain jobs/s and end-to-end jobs/s, and the two
  processes' peak resident memory.
* ``fastapi_baseline``: the same client against a FastAPI app that returns a constant to a small
  POST (pydantic body), served by the same uvicorn; ``http_vs_fastapi`` is the ratio (median of
  ``--rounds`` alternating rounds). Each server (and the draining worker) is pinned to the last
  core with ``taskset`` and the client to the first, so the two never share a core (unpinned,
  runs varied by 2x). ``--wrk SECONDS``: the load comes from wrk (one thread, the same
  connections) instead of the Python client, which spends a core of its own per ~9,000 requests/s.

Not a test: figures depend on the machine. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from emulator import free_port, wait_port  # noqa: E402  (a sibling script, not a package)

ADMIN_KEY = "jg_admin_bench_0123456789abcdef0123"
SERVER_CPU = (os.cpu_count() or 1) - 1

CONSTANT_APP = """
from fastapi import FastAPI
from pydantic import BaseModel, JsonValue

app = FastAPI()

class Body(BaseModel):
    type: str
    payload: JsonValue = None

@app.post("/jobs", status_code=202)
async def submit(body: Body) -> dict:
    return {"job_id": "01JCONSTANT000000000000000", "status": "queued"}
"""

BENCH_APP = """
from jobgate import JobGate

app = JobGate()

@app.job("noop", max_attempts=3, timeout=30)
def noop(payload, ctx):
    return None
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# -- (a) the service layer ---------------------------------------------------------------------


def bench_service(jobs: int, concurrency: int, data_dir: Path) -> dict[str, Any]:
    from jobgate import bootstrap, logs
    from jobgate.registry import JobGate
    from jobgate.settings import Settings

    logs.configure("warning")
    app = JobGate()
    app.job("noop")(lambda payload, ctx: None)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, admin_key=ADMIN_KEY, signing_key="s" * 32,
        worker_concurrency=concurrency, worker_prefetch=10, poll_wait_seconds=1.0,
    )  # fmt: skip
    services = bootstrap.build(settings, app)
    db = services.backend.queue._db  # type: ignore[attr-defined]
    worker = services.worker("bench")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    latencies: list[float] = []
    commits_before = db.commits
    started = time.perf_counter()
    for n in range(jobs):
        t0 = time.perf_counter()
        services.jobs.submit("bench", "noop", {"n": n})
        latencies.append(time.perf_counter() - t0)
    submitted = time.perf_counter()
    while worker.processed < jobs:
        time.sleep(0.005)
    finished = time.perf_counter()
    commits = db.commits - commits_before
    worker.stop()
    thread.join(10)
    services.close()
    return {
        "jobs": jobs,
        "worker_concurrency": concurrency,
        "jobs_per_s": round(jobs / (finished - started)),
        "submit_per_s": round(jobs / (submitted - started)),
        "submit_latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p99": ms(percentile(latencies, 99)),
        },
        "sqlite_transactions_per_job": round(commits / jobs, 2),
    }


def bench_sqlite_baseline(jobs: int, transactions_per_job: float, data_dir: Path) -> dict[str, Any]:
    """A raw loop: per job, ``transactions_per_job`` write transactions of one small row each
    (insert, then updates, then a delete), with the backend's file settings."""
    conn = sqlite3.connect(data_dir / "baseline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, status TEXT, body TEXT)")
    total = round(jobs * transactions_per_job)
    started = time.perf_counter()
    for n in range(total):
        job = n // max(1, round(transactions_per_job))
        conn.execute("BEGIN IMMEDIATE")
        if n % max(1, round(transactions_per_job)) == 0:
            conn.execute(
                "INSERT INTO t (id, status, body) VALUES (?, 'queued', '{\"n\":1}')", (job,)
            )
        else:
            conn.execute("UPDATE t SET status = 'done' WHERE id = ?", (job,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return {
        "transactions": total,
        "jobs_per_s": round(jobs / elapsed),
        "tx_per_s": round(total / elapsed),
    }


# -- (b) HTTP ------------------------------------------------------------------------------------


async def load(
    port: int, requests: int, connections: int, body: bytes, key: str | None
) -> dict[str, Any]:
    """``requests`` POST /jobs over ``connections`` keep-alive connections; latency per request."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    request = (
        f"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "requests": requests,
        "connections": connections,
        "requests_per_s": round(requests / elapsed),
        "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99))},
        "statuses": statuses,
    }


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def on_server_core(command: list[str]) -> list[str]:
    """``command`` pinned to the last core (the load client runs on the first): every thread
    the server starts is there, as ``taskset`` sets the affinity before Python starts."""
    return ["taskset", "-c", str(SERVER_CPU), *command]


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        on_server_core(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port)
    return process


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"type": "noop", "payload": {"n": 1}}'
wrk.headers["Content-Type"] = "application/json"
%s
"""


def load_wrk(port: int, seconds: int, connections: int, key: str | None, workdir: Path
             ) -> dict[str, Any]:  # fmt: skip
    """``POST /jobs`` with wrk (one thread, ``connections`` keep-alive connections) for
    ``seconds``: requests/s, latency p50/p99 and the answers that were not 2xx."""
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT % auth)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", "--latency",
               "-s", str(script), f"http://127.0.0.1:{port}/jobs"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    out = done.stdout
    rate = float(out.split("Requests/sec:")[1].split()[0])
    latency: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            latency["p50" if parts[0] == "50%" else "p99"] = parts[1]
    bad = int(out.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in out else 0
    total = int(out.split(" requests in ")[0].split()[-1])
    return {"client": "wrk", "connections": connections, "requests": total,
            "requests_per_s": round(rate), "latency": latency, "non_2xx": bad}  # fmt: skip


def bench_fastapi(
    requests: int, connections: int, workdir: Path, wrk: int | None = None
) -> dict[str, Any]:
    (workdir / "constant_app.py").write_text(CONSTANT_APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "constant_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = serve(command, env, port)
    try:
        body = json.dumps({"type": "noop", "payload": {"n": 1}}).encode()
        asyncio.run(load(port, 200, connections, body, None))  # warm-up
        if wrk:
            return load_wrk(port, wrk, connections, None, workdir)
        return asyncio.run(load(port, requests, connections, body, None))
    finally:
        process.terminate()
        process.wait(10)


def bench_http(
    requests: int, connections: int, workdir: Path, wrk: int | None = None
) -> dict[str, Any]:
    """Phase 1: ``jobgate api`` alone takes the submits (the figure to hold against FastAPI).
    Phase 2: a ``jobgate worker`` process drains them. End to end = jobs / (phase 1 + 2)."""
    import httpx

    (workdir / "bench_app.py").write_text(BENCH_APP)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOBGATE_")},
        "PYTHONPATH": f"{workdir}{os.pathsep}{ROOT / 'src'}",
        "JOBGATE_APP": "bench_app:app",
        "JOBGATE_DATA_DIR": str(workdir / "serve-data"),
        "JOBGATE_ADMIN_KEY": ADMIN_KEY,
        "JOBGATE_LOG_LEVEL": "warning",
        "JOBGATE_ACCESS_LOG": "false",
        "JOBGATE_WORKER_CONCURRENCY": "2",
        "JOBGATE_WORKER_PREFETCH": "10",
        "JOBGATE_METRICS": os.environ.get("BENCH_METRICS", "true"),  # false: metrics off
    }
    cli = [sys.executable, "-m", "jobgate.cli.main"]
    api = serve([*cli, "api", "--port", str(port)], env, port)
    worker: subprocess.Popen[bytes] | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        key = httpx.post(
            f"{base}/users",
            json={"name": "bench", "email": f"bench-{port}@example.com"},
            headers=admin,
        ).json()["api_key"]
        body = json.dumps({"type": "noop", "payload": {"n": 1}}).encode()
        asyncio.run(load(port, 200, connections, body, key))  # warm-up
        started = time.perf_counter()
        if wrk:
            result = load_wrk(port, wrk, connections, key, workdir)
        else:
            result = asyncio.run(load(port, requests, connections, body, key))
        requests = result["requests"]
        submitted = time.perf_counter()
        worker = subprocess.Popen(
            on_server_core([*cli, "worker"]),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while True:
            status = httpx.get(f"{base}/admin/queue-status", headers=admin).json()
            if status["depth"] + status["in_flight"] == 0:
                break
            time.sleep(0.05)
        drained = time.perf_counter()
        total = requests + 200
        result["worker_drain_jobs_per_s"] = round(total / (drained - submitted))
        result["end_to_end_jobs_per_s"] = round(requests / (drained - started))
        # each process's peak resident memory over the run (its notifier child apart)
        result["peak_rss_mb"] = {"api": peak_rss_mb(api.pid), "worker": peak_rss_mb(worker.pid)}
        return result
    finally:
        for process in (worker, api):
            if process is not None:
                process.terminate()
                process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker threads (service bench)")
    parser.add_argument("--http-requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="HTTP rounds (median reported)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--wrk",
        type=int,
        metavar="SECONDS",
        help="load the HTTP servers with wrk (1 thread, --connections) for this long instead of "
        "the Python client (Debian's wrk; the issue's figures were measured with it)",
    )
    args = parser.parse_args()

    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory(prefix="jobgate-bench-") as tmp:
        work = Path(tmp)
        (work / "service").mkdir()
        report["service"] = bench_service(args.jobs, args.concurrency, work / "service")
        tx_per_job = report["service"]["sqlite_transactions_per_job"]
        report["sqlite_baseline"] = bench_sqlite_baseline(args.jobs, tx_per_job, work)
        report["service_vs_baseline"] = round(
            report["service"]["jobs_per_s"] / report["sqlite_baseline"]["jobs_per_s"], 3
        )
        if not args.skip_http:
            os.sched_setaffinity(0, {0})  # the load client on the first core
            # alternate the two servers, and report the median round of each
            rounds = [
                (
                    bench_fastapi(args.http_requests, args.connections, work, args.wrk),
                    bench_http(args.http_requests, args.connections, work, args.wrk),
                )
                for _ in range(args.rounds)
            ]
            rounds.sort(key=lambda pair: pair[1]["requests_per_s"] / pair[0]["requests_per_s"])
            report["fastapi_baseline"], report["http"] = rounds[len(rounds) // 2]
            report["http_vs_fastapi_rounds"] = [
                round(h["requests_per_s"] / f["requests_per_s"], 3) for f, h in rounds
            ]
            report["http_vs_fastapi"] = report["http_vs_fastapi_rounds"][len(rounds) // 2]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
