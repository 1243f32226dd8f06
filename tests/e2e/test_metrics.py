"""``GET /metrics`` of a real ``jobgate serve``: Prometheus text that prometheus_client's own
parser reads, counting exactly the jobs the test ran; who may read it."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_KEY
from tests.processes import serving
from tests.support import wait_for

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_exactly_the_jobs_that_ran(tmp_path: Path) -> None:
    with (
        serving("serve", tmp_path / "data", metrics_token="scrape-token-0123") as (url, _),
        httpx.Client(base_url=url, headers=ADMIN) as http,
    ):
        ids = [http.post("/jobs", json={"type": "echo", "payload": {"n": n}}).json()["job_id"]
               for n in range(5)]  # fmt: skip
        doomed = http.post("/jobs", json={"type": "fail", "payload": {"permanent": True}})
        ids.append(doomed.json()["job_id"])

        def finished() -> bool:
            return all(http.get(f"/jobs/{i}").json()["status"] in ("completed", "failed")
                       for i in ids)  # fmt: skip

        wait_for(finished, timeout=30)
        text = http.get("/metrics").text
        got = samples(text)
        echo, fail = (("job_type", "echo"),), (("job_type", "fail"),)
        assert got[("jobgate_jobs_submitted_total", echo)] == 5
        assert got[("jobgate_jobs_started_total", echo)] == 5
        assert got[("jobgate_jobs_completed_total", echo)] == 5
        assert got[("jobgate_jobs_failed_total", fail)] == 1
        assert ("jobgate_jobs_completed_total", fail) not in got
        assert got[("jobgate_job_run_seconds_count", echo)] == 5
        assert got[("jobgate_job_queue_wait_seconds_count", echo)] == 5
        assert got[("jobgate_queue_depth", ())] == 0 and ("jobgate_dlq_depth", ()) in got
        assert ("jobgate_oldest_queued_age_seconds", ()) in got
        # who may read it: the admin, or the scrape token; nobody else
        scraper = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer scrape-token-0123"})
        assert scraper.status_code == 200 and "jobgate_jobs_submitted_total" in scraper.text
        assert httpx.get(f"{url}/metrics").status_code == 401
        user = http.post("/users", json={"name": "U", "email": "u@example.com"}).json()
        as_user = httpx.get(f"{url}/metrics", headers={"X-API-Key": user["api_key"]})
        assert as_user.status_code == 403
