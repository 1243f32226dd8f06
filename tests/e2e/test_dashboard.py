"""The dashboard at /ui in a real headless Chromium (Debian's, driven by Playwright), used as a
person would: sign in with a key, watch a job's progress bar move to completed, open a failed
job's error, redrive it from the DLQ page and see it complete."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.processes import serving

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "the dashboard test needs chromium (apt-get install chromium) and playwright"
            )
        pytest.skip("chromium or playwright is not installed (apt-get install chromium)")
    return found


def test_the_dashboard_as_a_person_uses_it(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    settings = {"app": "tests.apps:app", "retry_base_seconds": 0.01, "retry_cap_seconds": 0.02}
    with (
        serving("serve", tmp_path / "data", **settings) as (url, _),
        sync_playwright() as p,
        httpx.Client(base_url=url, headers=ADMIN) as http,
    ):
        flaky = http.post("/jobs", json={"type": "flaky", "payload": {"failures": 3}}).json()
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
        # sign in
        page.goto(f"{url}/ui")
        page.fill("#key", ADMIN_KEY)
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector("#jobs tr.row")
        assert ADMIN_KEY not in page.url and ADMIN_KEY not in page.content()
        # a job with progress: its bar moves, then it completes
        slow = http.post("/jobs", json={"type": "progress", "payload": {"seconds": 4}}).json()
        page.click(f"tr.row[data-id='{slow['job_id']}']")
        page.wait_for_selector("#job-status")
        seen: list[float] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = page.text_content("#job-status")
            seen.append(float(page.get_attribute("[role=progressbar]", "aria-valuenow") or 0))
            if status == "completed":
                break
            time.sleep(0.2)
        assert page.text_content("#job-status") == "completed"
        moving = sorted({v for v in seen if 0 < v < 100})
        assert len(moving) >= 2, f"the bar should move through the run, saw {seen}"
        assert seen[-1] == 100.0
        page.screenshot(path=str(tmp_path / "job.png"))
        # a failed job's error
        page.goto(f"{url}/ui/#/jobs/{flaky['job_id']}")
        page.wait_for_selector("#job-error", timeout=20_000)
        assert "ConnectionError" in (page.text_content("#job-error") or "")
        # the DLQ page: redrive it, and it completes
        page.goto(f"{url}/ui/#/queue")
        row = page.wait_for_selector(f"a[href='#/jobs/{flaky['job_id']}']", timeout=20_000)
        assert row is not None
        page.click("button.redrive")
        page.goto(f"{url}/ui/#/jobs/{flaky['job_id']}")
        page.wait_for_function(
            "document.querySelector('#job-status')?.textContent === 'completed'", timeout=30_000
        )
        page.goto(f"{url}/ui/#/jobs")
        page.wait_for_selector("#jobs tr.row")
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        if os.environ.get("JOBGATE_SCREENSHOTS"):  # README's picture: make it with this test
            shutil.copy(shot, Path(os.environ["JOBGATE_SCREENSHOTS"]) / "dashboard.png")
            shutil.copy(tmp_path / "job.png", Path(os.environ["JOBGATE_SCREENSHOTS"]) / "job.png")
        assert shot.stat().st_size > 10_000
        browser.close()
