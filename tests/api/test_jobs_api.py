"""The HTTP contract for jobs: submit, status, list, cancel, results, events, seed aliases."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from tests.conftest import ADMIN_KEY
from tests.support import running_worker, wait_status

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_submit_answers_202_with_location_and_status(
    client: TestClient, alice: dict[str, str]
) -> None:
    response = client.post("/jobs", json={"type": "echo", "payload": {"a": 1}}, headers=alice)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"/jobs/{body['job_id']}"
    assert body["status"] == "queued" and body["attempt"] == 0 and body["max_attempts"] == 3
    status = client.get(response.headers["location"], headers=alice)
    assert status.status_code == 200 and status.json()["job_id"] == body["job_id"]
    assert "x-request-id" in response.headers


def test_result_inline_after_completion(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    job_id = client.post(
        "/jobs", json={"type": "echo", "payload": [1, "two"]}, headers=alice
    ).json()["job_id"]
    early = client.get(f"/jobs/{job_id}/result", headers=alice)
    assert early.status_code == 409 and early.headers["content-type"] == "application/problem+json"
    with running_worker(services):
        wait_status(services, job_id, JobStatus.COMPLETED)
    result = client.get(f"/jobs/{job_id}/result", headers=alice)
    assert result.status_code == 200 and result.json() == {"job_id": job_id, "result": [1, "two"]}
    events = client.get(f"/jobs/{job_id}/events", headers=alice).json()["events"]
    assert [e["kind"] for e in events] == ["submitted", "claimed", "completed"]


def test_stored_result_redirects_to_a_signed_url(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    job_id = client.post(
        "/jobs", json={"type": "big", "payload": {"size": 100000}}, headers=alice
    ).json()["job_id"]
    with running_worker(services):
        wait_status(services, job_id, JobStatus.COMPLETED)
    redirect = client.get(f"/jobs/{job_id}/result", headers=alice, follow_redirects=False)
    assert redirect.status_code == 307
    download = client.get(redirect.headers["location"])  # no API key needed: the URL is signed
    assert download.status_code == 200 and len(download.json()["blob"]) == 100000
    url = client.get(
        f"/jobs/{job_id}/download-url", params={"artifact": "data.bin"}, headers=alice
    ).json()
    assert url["expires_in"] == 300
    artifact = client.get(url["url"])
    assert artifact.status_code == 200 and artifact.content == b"\x00\x01" * 5000
    # tampering with the path, the expiry or the signature is refused
    for forged in (
        url["url"].replace("data.bin", "result.json"),
        url["url"].replace("expires=", "expires=9"),
        url["url"][:-3] + "AAA",
    ):
        assert client.get(forged).status_code in (403, 404)


def test_list_filters_and_pages(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    for i in range(5):
        client.post("/jobs", json={"type": "echo" if i % 2 else "fail"}, headers=alice)
    client.post("/jobs", json={"type": "echo"}, headers=bob)
    first = client.get("/jobs", params={"limit": 3}, headers=alice).json()
    second = client.get(
        "/jobs", params={"limit": 3, "cursor": first["next_cursor"]}, headers=alice
    ).json()
    assert len(first["jobs"]) == 3 and len(second["jobs"]) == 2 and second["next_cursor"] is None
    only_echo = client.get("/jobs", params={"type": "echo"}, headers=alice).json()["jobs"]
    assert len(only_echo) == 2 and {j["type"] for j in only_echo} == {"echo"}
    queued = client.get("/jobs", params={"status": "queued"}, headers=alice).json()["jobs"]
    assert len(queued) == 5
    assert client.get("/jobs", params={"status": "bogus"}, headers=alice).status_code == 422


def test_cancel_queued_then_conflict(client: TestClient, alice: dict[str, str]) -> None:
    job_id = client.post("/jobs", json={"type": "echo"}, headers=alice).json()["job_id"]
    cancelled = client.delete(f"/jobs/{job_id}", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.delete(f"/jobs/{job_id}", headers=alice)
    assert again.status_code == 409


def test_idempotency_key_returns_the_same_job(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    headers = {**alice, "Idempotency-Key": "order-42"}
    first = client.post("/jobs", json={"type": "echo", "payload": {"n": 1}}, headers=headers)
    second = client.post("/jobs", json={"type": "echo", "payload": {"n": 1}}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers["idempotent-replayed"] == "true"
    # same key, other body: a conflict, and nothing new is written
    other = client.post("/jobs", json={"type": "echo", "payload": {"n": 2}}, headers=headers)
    assert other.status_code == 409 and other.json()["job_id"] == first.json()["job_id"]
    assert len(services.backend.jobs.list_jobs(None).items) == 1
    assert services.backend.queue.stats().depth == 1


def test_idempotency_keys_are_scoped_to_the_owner(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    a = client.post(
        "/jobs", json={"type": "echo"}, headers={**alice, "Idempotency-Key": "k"}
    ).json()
    b = client.post("/jobs", json={"type": "echo"}, headers={**bob, "Idempotency-Key": "k"}).json()
    assert a["job_id"] != b["job_id"]


def test_another_owners_job_is_a_404_everywhere(
    client: TestClient, services: Services, alice: dict[str, str], bob: dict[str, str]
) -> None:
    job_id = client.post("/jobs", json={"type": "echo"}, headers=alice).json()["job_id"]
    missing = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    for method, path in [
        ("GET", "/jobs/{}"),
        ("GET", "/jobs/{}/result"),
        ("GET", "/jobs/{}/download-url"),
        ("GET", "/jobs/{}/events"),
        ("DELETE", "/jobs/{}"),
        ("GET", "/status/{}"),
    ]:
        theirs = client.request(method, path.format(job_id), headers=bob)
        nothing = client.request(method, path.format(missing), headers=bob)
        assert theirs.status_code == nothing.status_code == 404, (method, path)
        assert theirs.json()["title"] == nothing.json()["title"]
    assert client.get("/jobs", headers=bob).json()["jobs"] == []
    assert services.backend.jobs.get(job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_admin_sees_every_job(client: TestClient, alice: dict[str, str]) -> None:
    from tests.api.conftest import ADMIN

    job_id = client.post("/jobs", json={"type": "echo"}, headers=alice).json()["job_id"]
    assert client.get(f"/jobs/{job_id}", headers=ADMIN).status_code == 200


def test_seed_aliases_submit_and_status(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    submitted = client.post(
        "/submit", json={"task": "echo", "data": {"input": "test data"}}, headers=alice
    )
    assert submitted.status_code == 202
    job_id = submitted.json()["jobId"]
    assert submitted.json()["status"] == "queued"
    with running_worker(services):
        wait_status(services, job_id, JobStatus.COMPLETED)
    status = client.get(f"/status/{job_id}", headers=alice).json()
    assert status["status"] == "completed" and status["result"] == {"input": "test data"}
    assert set(status) == {"jobId", "status", "createdAt", "updatedAt", "result", "error"}


def test_queue_status_and_health(client: TestClient, alice: dict[str, str]) -> None:
    from tests.api.conftest import ADMIN

    client.post("/jobs", json={"type": "echo"}, headers=alice)
    status = client.get("/admin/queue-status", headers=ADMIN).json()
    assert status == {
        "depth": 1,
        "in_flight": 0,
        "delayed": 0,
        "dlq_depth": 0,
        "oldest_age_seconds": status["oldest_age_seconds"],
    }
    assert client.get("/api/admin/queue-status", headers=ADMIN).status_code == 200
    assert client.get("/admin/queue-status", headers=alice).status_code == 403
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/openapi.json").json()["info"]["title"] == "jobgate"
    schedules = client.get("/admin/schedules", headers=ADMIN).json()
    assert [s["name"] for s in schedules] == ["every-minute"]


def test_cors_is_off_by_default_and_follows_the_setting(tmp_path: Path) -> None:
    from jobgate import bootstrap
    from jobgate.api.app import create_app
    from tests.apps import app as test_app
    from tests.conftest import make_settings

    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
    }
    for origins, allowed in (("", False), ("https://app.example.com,https://x.example.com", True)):
        services = bootstrap.build(
            make_settings(tmp_path / f"d{allowed}", cors_origins=origins), test_app
        )
        try:
            with TestClient(create_app(services)) as client:
                answer = client.options("/jobs", headers=preflight)
                assert (
                    answer.headers.get("access-control-allow-origin") == "https://app.example.com"
                ) is allowed
                # the submit itself (served past FastAPI's router) carries CORS headers too
                submitted = client.post(
                    "/jobs",
                    json={"type": "echo", "payload": 1},
                    headers={"Origin": "https://app.example.com", **ADMIN},
                )
                assert submitted.status_code == 202
                assert (
                    submitted.headers.get("access-control-allow-origin")
                    == "https://app.example.com"
                ) is allowed
        finally:
            services.close()


def test_an_unexpected_error_in_a_submit_is_a_500_problem_with_the_request_id(
    client: TestClient, services: Services, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(requests: object) -> object:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(services.jobs, "submit_many", broken)
    served = TestClient(client.app, raise_server_exceptions=False)  # as a server answers
    answer = served.post(
        "/jobs", json={"type": "echo", "payload": 1}, headers={**alice, "X-Request-ID": "req-42"}
    )
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Internal error"
    assert "fire" not in answer.text  # nothing internal leaks
    assert answer.headers["x-request-id"] == "req-42"


def test_docs_pages_use_assets_served_here(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn.jsdelivr.net" not in html and "/static/docs/" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        response = client.get(f"/static/docs/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
