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


def _client(args: argparse.Namespace) -> httpx.Client:
    print(f"jobgate: the API at {args.url}", file=sys.stderr)  # which service answers
    key = _api_key(args)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.url, headers=headers, timeout=30)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('title', 'error')}: {body.get('detail', '')}"
        except ValueError:
            message = response.text[:300]
        print(f"error {response.status_code}: {message}", file=sys.stderr)
        raise SystemExit(1)
    return response.json()


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_submit(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        print(f"--payload is not valid JSON: {exc}", file=sys.stderr)
        return 2
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    try:
        with _client(args) as http:
            job = _check(
                http.post("/jobs", json={"type": args.type, "payload": payload}, headers=headers)
            )
            if not args.wait:
                _print(job)
                return 0
            job = _wait(http, job["job_id"], args.timeout)
            if job["status"] == "completed":
                result = http.get(f"/jobs/{job['job_id']}/result")
                job["result"] = result.json().get("result") if result.status_code == 200 else None
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    _print(job)
    return 0 if job["status"] == "completed" else 1


def _wait(http: httpx.Client, job_id: str, timeout: float) -> Any:
    """Wait until the job is finished, drawing a progress bar on stderr. Each request is a
    long poll (``?wait=1``): it answers at once when the status changes, and at least every
    second so the bar follows the progress."""
    deadline = time.monotonic() + timeout
    interactive = sys.stderr.isatty()
    last_line = ""
    first = True
    while True:
        wait = {} if first else {"wait": "1"}
        job = _check(http.get(f"/jobs/{job_id}", params=wait, timeout=30))
        first = False
        progress = job["progress"]
        filled = int(progress["pct"] // 5)
        line = (
            f"{job_id} [{'#' * filled}{'.' * (20 - filled)}] {progress['pct']:5.1f}% "
            f"{job['status']:<10} {progress['note']}"[:120]
        )
        if line != last_line:
            print(
                ("\r" + line.ljust(120)) if interactive else line,
                end="" if interactive else "\n",
                file=sys.stderr,
                flush=True,
            )
            last_line = line
        if job["status"] in _TERMINAL:
            if interactive:
                print(file=sys.stderr)
            return job
        if time.monotonic() > deadline:
            print(f"\ngave up waiting after {timeout:g}s", file=sys.stderr)
            return job


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as http:
        _print(_check(http.get(f"/jobs/{args.job_id}")))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    params = {
        k: v
        for k, v in {"status": args.status, "type": args.job_type, "limit": args.limit}.items()
        if v is not None
    }
    with _client(args) as http:
        page = _check(http.get("/jobs", params=params))
    for job in page["jobs"]:
        print(
            f"{job['job_id']}  {job['status']:<10}  {job['type']:<18}  "
            f"attempt {job['attempt']}/{job['max_attempts']}  {job['created_at']}"
        )
    if page["next_cursor"]:
        print(f"… more (cursor {page['next_cursor']})")
    return 0
