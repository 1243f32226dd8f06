"""Every bad input gets a 4xx problem+json and writes nothing (no job, no message)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jobgate.bootstrap import Services


def nothing_written(services: Services) -> bool:
    return (
        services.backend.jobs.list_jobs(None).items == []
        and services.backend.queue.stats().depth == 0
    )


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_BODIES = [
    # (case, raw body, content type, expected status)
    ("malformed JSON", b'{"type": "echo", ', "application/json", 400),
    ("not UTF-8", b'{"type": "echo", "payload": "\xff\xfe"}', "application/json", 400),
    ("unknown job type", b'{"type": "nope"}', "application/json", 422),
    ("job type with bad characters", b'{"type": "../etc"}', "application/json", 422),
    (
        "extra field (mass assignment)",
        b'{"type": "echo", "status": "completed"}',
        "application/json",
        422,
    ),
    ("extra owner field", b'{"type": "echo", "owner": "bob"}', "application/json", 422),
    ("wrong type", b'{"type": 42}', "application/json", 422),
    ("wrong max_attempts", b'{"type": "echo", "max_attempts": "many"}', "application/json", 422),
    (
        "max_attempts out of range",
        b'{"type": "echo", "max_attempts": 1000}',
        "application/json",
        422,
    ),
    ("missing type", b'{"payload": 1}', "application/json", 422),
    ("body is a list", b'[{"type": "echo"}]', "application/json", 422),
    ("NUL in payload", b'{"type": "echo", "payload": "a\\u0000b"}', "application/json", 422),
    (
        "NUL in payload key",
        b'{"type": "echo", "payload": {"a\\u0000": 1}}',
        "application/json",
        422,
    ),
    ("lone surrogate", b'{"type": "echo", "payload": "\\udc80"}', "application/json", None),
    (
        "deep nesting (40)",
        b'{"type": "echo", "payload": ' + nested(40).encode() + b"}",
        "application/json",
        422,
    ),
    (
        "deep nesting (100000)",
        b'{"type": "echo", "payload": ' + nested(100000).encode() + b"}",
        "application/json",
        None,
    ),
    (
        "huge integer",
        b'{"type": "echo", "payload": ' + b"9" * 5000 + b"}",
        "application/json",
        None,
    ),
    ("form body", b"type=echo", "application/x-www-form-urlencoded", 415),
    ("no content type", b'{"type": "echo"}', "", 415),
    ("empty body", b"", "application/json", 400),
]


@pytest.mark.parametrize(
    ("case", "body", "content_type", "status"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES]
)
def test_bad_body_is_a_4xx_problem_and_writes_nothing(
    client: TestClient,
    services: Services,
    alice: dict[str, str],
    case: str,
    body: bytes,
    content_type: str,
    status: int | None,
) -> None:
    headers = {**alice, "Content-Type": content_type} if content_type else dict(alice)
    response = client.post("/jobs", content=body, headers=headers)
    if status is None:
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    else:
        assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"]
    assert nothing_written(services)


def test_body_over_the_limit_is_413(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    body = b'{"type": "echo", "payload": "' + b"x" * 2_000_000 + b'"}'
    response = client.post(
        "/jobs", content=body, headers={**alice, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert nothing_written(services)


def test_streamed_body_over_the_limit_is_413(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"type": "echo", "payload": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/jobs", content=chunks(), headers={**alice, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert nothing_written(services)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"X-API-Key": "jg_abc_def"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ],
)
def test_missing_or_bad_keys_are_401(
    client: TestClient, services: Services, headers: dict[str, str], status: int
) -> None:
    response = client.post("/jobs", json={"type": "echo"}, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert nothing_written(services)


def test_bad_idempotency_key_is_422(
    client: TestClient, services: Services, alice: dict[str, str]
) -> None:
    response = client.post(
        "/jobs", json={"type": "echo"}, headers={**alice, "Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 422
    assert nothing_written(services)


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert client.get("/nope").headers["content-type"] == "application/problem+json"
    assert client.put("/jobs").status_code == 405


@pytest.mark.parametrize("job_id", ["not-an-id", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "%00", "a" * 300])
def test_odd_job_ids_are_404(client: TestClient, alice: dict[str, str], job_id: str) -> None:
    assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 404


@contextmanager
def locked_database(tmp_path: Path) -> Iterator[tuple[Services, TestClient, Callable[[], None]]]:
    """The API on a database whose write lock another process holds (200 ms busy timeout);
    the third item lets the lock go."""
    import sqlite3

    from jobgate import bootstrap
    from jobgate.api.app import create_app
    from tests.apps import app as test_app
    from tests.conftest import make_settings

    services = bootstrap.build(make_settings(tmp_path / "d", sqlite_busy_timeout_ms=200), test_app)
    try:
        with TestClient(create_app(services)) as client:
            other = sqlite3.connect(tmp_path / "d" / "jobgate.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")

            def release() -> None:
                other.execute("ROLLBACK")
                other.close()

            yield services, client, release
    finally:
        services.close()


def test_a_locked_database_is_a_503_with_retry_after_never_a_500(tmp_path: Path) -> None:
    from tests.api.conftest import ADMIN

    # given another process holding the database's write lock
    with locked_database(tmp_path) as (services, client, release):
        # when a job is submitted
        busy = client.post("/jobs", json={"type": "echo"}, headers=ADMIN)
        # then the answer is 503 with Retry-After, and nothing was written
        assert busy.status_code == 503
        assert busy.headers["retry-after"].isdigit()
        assert busy.headers["content-type"] == "application/problem+json"
        release()
        assert nothing_written(services)
        # and once the lock is gone the same request succeeds
        assert client.post("/jobs", json={"type": "echo"}, headers=ADMIN).status_code == 202
