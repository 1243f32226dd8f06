"""Client commands: ``submit``, ``status``, ``jobs``; they talk to a running API over HTTP.

The API's address comes from ``--url`` or ``JOBGATE_URL`` (default http://127.0.0.1:8000), the
key from ``--api-key``, ``JOBGATE_API_KEY``, or the admin key file of the local data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from jobgate.client import Client, Job, ProblemError

_TERMINAL = {"completed", "failed", "cancelled"}


def add_commands(sub: Any) -> None:
    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--url",
            default=os.environ.get("JOBGATE_URL", "http://127.0.0.1:8000"),
            help="API base URL (JOBGATE_URL)",
        )
        p.add_argument("--api-key", default=None, help="API key (JOBGATE_API_KEY)")
        return p

    p = client("submit", "submit a job; with --wait, show progress until it finishes")
    p.add_argument("type", help="job type, e.g. echo, process_data, generate_archive, sleep")
    p.add_argument("--payload", default="null", help="the payload as JSON (default null)")
    p.add_argument("--idempotency-key", help="make retries of this submit return the same job")
    p.add_argument("--wait", action="store_true", help="wait for the job to finish")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    p.set_defaults(func=cmd_submit)

    p = client("status", "show a job's status")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_status)

    p = client("jobs", "list your jobs, newest first")
    p.add_argument("--status", choices=sorted(["queued", "processing", *_TERMINAL]))
    p.add_argument("--type", dest="job_type")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_jobs)


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key:
        return str(args.api_key)
    if os.environ.get("JOBGATE_API_KEY"):
        return os.environ["JOBGATE_API_KEY"]
    for candidate in (
        os.environ.get("JOBGATE_ADMIN_KEY_FILE"),
        str(Path(os.environ.get("JOBGATE_DATA_DIR", ".jobgate")) / "admin_key"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8").strip()
    return os.environ.get("JOBGATE_ADMIN_KEY")


def _client(args: argparse.Namespace) -> Client:
    print(f"jobgate: the API at {args.url}", file=sys.stderr)  # which service answers
    return Client(args.url, _api_key(args))


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _failed(exc: Exception, url: str) -> int:
    """One line on stderr for an error answer or an unreachable API; exit code 1."""
    if isinstance(exc, ProblemError):
        print(f"error {exc.status}: {exc.title}: {exc.detail}", file=sys.stderr)
    else:
        print(f"cannot reach {url}: {exc}", file=sys.stderr)
    return 1


def cmd_submit(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        print(f"--payload is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        with _client(args) as jobs:
            job = jobs.submit(args.type, payload, idempotency_key=args.idempotency_key)
            if not args.wait:
                _print(dict(job.raw))
                return 0
            job = _wait(jobs, job.job_id, args.timeout)
            shown = dict(job.raw)
            if job.status == "completed":
                shown["result"] = jobs.result(job.job_id)
    except (ProblemError, httpx.HTTPError) as exc:
        return _failed(exc, args.url)
    _print(shown)
    return 0 if job.status == "completed" else 1


def _wait(jobs: Client, job_id: str, timeout: float) -> Job:
    """Wait until the job is finished, drawing a progress bar on stderr. Each request is a
    long poll (``?wait=1``): it answers at once when the status changes, and at least every
    second so the bar follows the progress."""
    deadline = time.monotonic() + timeout
    interactive = sys.stderr.isatty()
    last_line = ""
    job = jobs.get(job_id)
    while True:
        filled = int(job.progress.pct // 5)
        line = (
            f"{job_id} [{'#' * filled}{'.' * (20 - filled)}] {job.progress.pct:5.1f}% "
            f"{job.status:<10} {job.progress.note}"[:120]
        )
        if line != last_line:
            print(
                ("\r" + line.ljust(120)) if interactive else line,
                end="" if interactive else "\n",
                file=sys.stderr,
                flush=True,
            )
            last_line = line
        if job.done:
            if interactive:
                print(file=sys.stderr)
            return job
        if time.monotonic() > deadline:
            print(f"\ngave up waiting after {timeout:g}s", file=sys.stderr)
            return job
        job = jobs.get(job_id, wait=1)


def cmd_status(args: argparse.Namespace) -> int:
    try:
        with _client(args) as jobs:
            _print(dict(jobs.get(args.job_id).raw))
    except (ProblemError, httpx.HTTPError) as exc:
        return _failed(exc, args.url)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    try:
        with _client(args) as jobs:
            listed = jobs.jobs(status=args.status, job_type=args.job_type, page_size=args.limit)
            for n, job in enumerate(listed):
                if n == args.limit:
                    print("… more (raise --limit)")
                    break
                print(
                    f"{job.job_id}  {job.status:<10}  {job.type:<18}  "
                    f"attempt {job.attempt}/{job.max_attempts}  {job.created_at}"
                )
    except (ProblemError, httpx.HTTPError) as exc:
        return _failed(exc, args.url)
    return 0
