"""Notices survive a crash: ``kill -9`` of the worker between a job's completion and the
publish of its notice, with real processes and a real receiver."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.notify.receiver import Receiver
from tests.processes import serving, worker
from tests.support import wait_for

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_kill_9_between_completion_and_publish_still_delivers_once(tmp_path: Path) -> None:
    receiver = Receiver().start()
    data = tmp_path / "data"

    def notices_of(job_id: str) -> list[dict[str, Any]]:
        bodies = [json.loads(r.body) for r in receiver.bodies()]
        return [b for b in bodies if b["data"]["job_id"] == job_id]

    settings = {
        "app": "tests.apps:app",
        "webhook_allowed_hosts": "127.0.0.1",
        "webhook_require_https": "false",
    }
    try:
        with (
            serving("api", data, **settings) as (url, _),
            httpx.Client(base_url=url, headers=ADMIN) as http,
        ):
            sub = http.post(
                "/notifications/subscribe/webhook",
                json={"url": f"{receiver.url}/hook", "event_types": ["job.completed"]},
            )
            assert sub.status_code == 201, sub.text
            # given a worker whose notifier dispatches at start, then not for a minute
            first = worker(data, "worker-1", **settings, notify_poll_seconds=50)
            time.sleep(2.0)  # started: its dispatcher's cursor is in place
            job_id = http.post("/jobs", json={"type": "echo", "payload": 1}).json()["job_id"]
            wait_for(lambda: http.get(f"/jobs/{job_id}").json()["status"] == "completed", 30)
            # when it is killed after the job completed, before the notice went out
            first.kill9()
            assert notices_of(job_id) == []
            # then a new worker delivers it from the history, once
            second = worker(data, "worker-2", **settings)
            try:
                wait_for(lambda: notices_of(job_id), timeout=30)
                time.sleep(1.5)  # a duplicate would arrive here
            finally:
                second.stop()
        # (the app's every-minute schedule may complete jobs of its own meanwhile: the
        # admin's subscription hears every owner's jobs, so only this job's notices count)
        (notice,) = notices_of(job_id)
        assert notice["type"] == "job.completed"
    finally:
        receiver.stop()


def test_serve_can_run_the_notifier_as_its_own_process(tmp_path: Path) -> None:
    import subprocess

    receiver = Receiver().start()
    settings = {
        "app": "tests.apps:app",
        "webhook_allowed_hosts": "127.0.0.1",
        "webhook_require_https": "false",
        "notifier": "process",
    }
    try:
        with (
            serving("serve", tmp_path / "data", **settings) as (url, process),
            httpx.Client(base_url=url, headers=ADMIN) as http,
        ):
            http.post(
                "/notifications/subscribe/webhook",
                json={"url": f"{receiver.url}/hook", "event_types": ["job.completed"]},
            )
            job_id = http.post("/jobs", json={"type": "echo"}).json()["job_id"]
            wait_for(lambda: receiver.bodies(), timeout=30)
            assert json.loads(receiver.bodies()[0].body)["data"]["links"]["self"] == (
                f"{url}/jobs/{job_id}"
            )
            pid = process.popen.pid
        # serve stopped: its notifier child is gone too
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True
        ).stdout.split()
        assert children == []
    finally:
        receiver.stop()


def test_a_killed_serve_takes_its_notifier_child_with_it(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    settings = {"app": "tests.apps:app", "notifier": "process"}
    with serving("serve", tmp_path / "data", **settings) as (_url, process):
        pid = process.popen.pid
        children = wait_for(
            lambda: subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True
            ).stdout.split(),
            timeout=30,
        )
        os.kill(pid, signal.SIGKILL)
        process.popen.wait(10)

        def gone() -> bool:
            try:
                os.kill(int(children[0]), 0)
            except ProcessLookupError:
                return True
            return False

        assert wait_for(gone, timeout=10), "the notifier outlived its parent"
