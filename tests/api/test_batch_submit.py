"""``POST /jobs/batch``: up to 25 jobs, each validated, made idempotent and answered on its own;
a bad envelope writes nothing; a backend that fails leaves no job behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobgate.bootstrap import Services
from jobgate.domain.models import JobStatus
from tests.api.test_bad_input import locked_database, nothing_written
from tests.support import running_worker, wait_status


def test_each_job_is_answered_on_its_own(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    # given a key used before, and a batch mixing good jobs, bad ones and keyed ones
    first = client.post("/jobs", json={"type": "echo", "payload": 0},
                        headers={**alice, "Idempotency-Key": "k-old"})  # fmt: skip
    jobs: list[Any] = [
        {"type": "echo", "payload": {"n": 1}},
        {"type": "nope"},  # unknown type
        {"type": "echo", "status": "completed"},  # mass assignment
        {"type": "echo", "payload": "a\u0000b"},  # NUL
        "not an object",
        {"type": "echo", "payload": 0, "idempotency_key": "k-old"},  # replay of POST /jobs
        {"type": "echo", "payload": 9, "idempotency_key": "k-old"},  # same key, other request
        {"type": "echo", "payload": 2, "idempotency_key": "k-new"},
        {"type": "echo", "payload": 2, "idempotency_key": "k-new"},  # twice in one batch
        {"type": "echo", "max_attempts": 0},
        {"type": "echo", "idempotency_key": ""},
    ]
    # when they are submitted together
    response = client.post("/jobs/batch", json={"jobs": jobs}, headers=alice)
    # then each gets what POST /jobs would have answered it, in order
    assert response.status_code == 207, response.text
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202, 422, 422, 422, 422, 202, 409, 202, 202, 422, 422]
    assert [r["index"] for r in body["results"]] == list(range(len(jobs)))
    results = body["results"]
    assert results[5]["replayed"] and results[5]["job"]["job_id"] == first.json()["job_id"]
    assert results[8]["replayed"] and results[8]["job"]["job_id"] == results[7]["job"]["job_id"]
    assert not results[0]["replayed"] and results[0]["job"]["status"] == "queued"
    assert results[6]["problem"]["title"] == "Idempotency conflict" or results[6]["problem"]
    assert results[2]["problem"]["errors"][0]["loc"] == ["status"]
    assert body["accepted"] == 4
    # and exactly the new jobs were recorded and queued, and they run
    listed = client.get("/jobs", headers=alice).json()["jobs"]
    assert len(listed) == 3  # the earlier one, result 0, result 7
    assert services.backend.queue.stats().depth == 3
    with running_worker(services):
        wait_status(services, results[0]["job"]["job_id"], JobStatus.COMPLETED)
    got = client.get(f"/jobs/{results[0]['job']['job_id']}/result", headers=alice)
    assert got.json()["result"] == {"n": 1}


BAD_ENVELOPES = [
    # (case, JSON body, status)
    ("empty list", {"jobs": []}, 422),
    ("26 jobs", {"jobs": [{"type": "echo"}] * 26}, 422),
    ("not a list", {"jobs": {"type": "echo"}}, 422),
    ("no jobs field", {"type": "echo"}, 422),
    ("extra field", {"jobs": [{"type": "echo"}], "owner": "bob"}, 422),
    ("a bare list", [{"type": "echo"}], 422),
]


@pytest.mark.parametrize(
    ("case", "body", "status"), BAD_ENVELOPES, ids=[c[0] for c in BAD_ENVELOPES]
)
def test_a_bad_envelope_is_one_problem_and_writes_nothing(
    client: TestClient,
    services: Services,
    alice: dict[str, str],
    case: str,
    body: Any,
    status: int,
) -> None:
    response = client.post("/jobs/batch", json=body, headers=alice)
    assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert nothing_written(services)


def test_malformed_json_a_bad_key_and_a_form_body(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    json_type = {"Content-Type": "application/json"}
    jobs = b'{"jobs": [{"type": "echo"}]}'
    no_key = client.post("/jobs/batch", content=jobs, headers={"X-API-Key": "nope", **json_type})
    assert no_key.status_code == 401
    malformed = client.post("/jobs/batch", content=b'{"jobs": [', headers={**alice, **json_type})
    assert malformed.status_code == 400
    form = client.post("/jobs/batch", content=b"jobs=1", headers={
        **alice, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 415
    for answer in (no_key, malformed, form):
        assert answer.headers["content-type"] == "application/problem+json"
    assert nothing_written(services)


def test_twenty_five_jobs_are_one_request(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    jobs = [{"type": "echo", "payload": n} for n in range(25)]
    response = client.post("/jobs/batch", json={"jobs": jobs}, headers=alice)
    assert response.status_code == 207 and response.json()["accepted"] == 25
    ids = [r["job"]["job_id"] for r in response.json()["results"]]
    assert len(set(ids)) == 25 and services.backend.queue.stats().depth == 25
    events = client.get(f"/jobs/{ids[24]}/events", headers=alice).json()["events"]
    assert [e["kind"] for e in events] == ["submitted"]


def test_a_locked_database_is_one_503_and_leaves_no_job(tmp_path: Path) -> None:
    from tests.api.conftest import ADMIN

    with locked_database(tmp_path) as (services, client, release):
        jobs = {"jobs": [{"type": "echo"}, {"type": "echo", "payload": 1}]}
        busy = client.post("/jobs/batch", json=jobs, headers=ADMIN)
        assert busy.status_code == 503 and busy.headers["retry-after"].isdigit()
        release()
        assert nothing_written(services)
        again = client.post("/jobs/batch", json=jobs, headers=ADMIN)
        assert again.status_code == 207 and again.json()["accepted"] == 2
