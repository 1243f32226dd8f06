"""Job types used by the tests. Loaded in-process and by subprocesses (``tests.apps:app``).

Handlers that have effects append one line per effect to the file named by
``JOBGATE_TEST_EFFECTS`` (O_APPEND writes of one short line are atomic), so tests can count how
often each job's handler really ran.
"""

from __future__ import annotations

import os
import time
from typing import Any

from jobgate import JobContext, JobGate, PermanentError

app = JobGate()


def record_effect(ctx: JobContext, what: str) -> None:
    path = os.environ.get("JOBGATE_TEST_EFFECTS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{ctx.job_id} {ctx.attempt} {what}\n".encode())
        finally:
            os.close(fd)


@app.job("echo", max_attempts=3, timeout=30)
def echo(payload: Any, ctx: JobContext) -> Any:
    return payload


@app.job("progress", max_attempts=1, timeout=60)
def progress(payload: Any, ctx: JobContext) -> dict[str, float]:
    """Runs ``seconds``, reporting its progress as it goes (the dashboard test watches it)."""
    seconds = float((payload or {}).get("seconds", 2))
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        ctx.progress(100 * elapsed / seconds, f"{elapsed:.1f}s of {seconds:g}s")
        time.sleep(0.1)
    return {"seconds": seconds}


@app.job("logs", max_attempts=1, timeout=30)
def logs(payload: Any, ctx: JobContext) -> str:
    """Writes a log line from inside the handler (the tracing tests look for its trace id)."""
    ctx.log.warning("handler_says_hello", n=(payload or {}).get("n"))
    return "logged"


@app.job("effect", max_attempts=5, timeout=60)
def effect(payload: Any, ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds`` (default 0), then record an effect: counts real executions."""
    record_effect(ctx, "start")
    seconds = float((payload or {}).get("seconds", 0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    record_effect(ctx, "done")
    return {"job": ctx.job_id, "attempt": ctx.attempt}


@app.job("fail", max_attempts=3, timeout=30)
def fail(payload: Any, ctx: JobContext) -> None:
    record_effect(ctx, "fail")
    raise RuntimeError(f"always fails (attempt {ctx.attempt})")


@app.job("permanent", max_attempts=3, timeout=30)
def permanent(payload: Any, ctx: JobContext) -> None:
    raise PermanentError("bad input, do not retry")


@app.job("flaky", max_attempts=3, timeout=30)
def flaky(payload: Any, ctx: JobContext) -> dict[str, int]:
    """Fails on the first ``failures`` attempts, then succeeds."""
    if ctx.attempt <= int((payload or {}).get("failures", 1)):
        raise ConnectionError("transient")
    return {"attempt": ctx.attempt}


@app.job("slow", max_attempts=2, timeout=60)
def slow(payload: Any, ctx: JobContext) -> dict[str, Any]:
    """Run ``seconds``, watching for cancellation; records start and end effects."""
    record_effect(ctx, "start")
    seconds = float((payload or {}).get("seconds", 1))
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if ctx.cancelled():
            record_effect(ctx, "cancelled")
            return {"cancelled": True}
        ctx.progress(100 * (time.monotonic() - started) / seconds, "working")
        time.sleep(0.02)
    record_effect(ctx, "done")
    return {"slept": seconds}


@app.job("hang", max_attempts=2, timeout=0.5)
def hang(payload: Any, ctx: JobContext) -> str:
    """Ignores cancellation and overruns its 0.5 s timeout."""
    record_effect(ctx, "start")
    time.sleep(float((payload or {}).get("seconds", 1.5)))
    return "too late"


@app.job("big", max_attempts=1, timeout=30)
def big(payload: Any, ctx: JobContext) -> dict[str, str]:
    """Returns a result larger than the inline limit, and an artifact."""
    ctx.put_artifact("data.bin", b"\x00\x01" * 5000, "application/octet-stream")
    return {"blob": "x" * int((payload or {}).get("size", 100_000))}


@app.job("async_echo", max_attempts=1, timeout=5)
async def async_echo(payload: Any, ctx: JobContext) -> Any:
    import asyncio

    await asyncio.sleep(0.01)
    return {"async": payload}


@app.schedule("rate(1 minute)", job_type="echo", payload={"tick": True}, name="every-minute")
def _tick(payload: Any, ctx: JobContext) -> None:  # pragma: no cover - marker only
    return None


@app.job("sleepy", max_attempts=2, timeout=60)
def sleepy(payload: Any, ctx: JobContext) -> str:
    """Sleeps ``seconds`` and ignores cancellation: only a time limit outside it ends it."""
    record_effect(ctx, "start")
    time.sleep(float((payload or {}).get("seconds", 5)))
    record_effect(ctx, "done")
    return "woke"


@app.job("async_sleepy", max_attempts=2, timeout=60)
async def async_sleepy(payload: Any, ctx: JobContext) -> str:
    import asyncio

    await asyncio.sleep(float((payload or {}).get("seconds", 5)))
    return "woke"


# A second app whose schedules' names overlap, for the cron handler's rule matching.
cron_app = JobGate()
cron_app.job("echo", max_attempts=1, timeout=30)(echo)
for _name in ("report", "nightly-report", "db-housekeeping"):
    cron_app.schedule("rate(1 day)", job_type="echo", payload={"schedule": _name}, name=_name)(
        _tick
    )
