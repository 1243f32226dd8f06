"""A Python client for jobgate's HTTP API: :class:`Client` and :class:`AsyncClient`.

    from jobgate import Client

    with Client("http://127.0.0.1:8000", api_key) as jobs:
        job = jobs.submit("process_data", {"input": "hello"})
        done = jobs.wait(job.job_id)            # the event stream, or ?wait= long-polls
        print(done.status, jobs.result(job.job_id))

Every error answer (``application/problem+json``) is raised as a :class:`ProblemError` of the
status's class (:class:`NotFound`, :class:`Conflict`, :class:`Invalid`, …) carrying the problem
document's fields. ``503`` answers are retried after their ``Retry-After`` (``retries`` times);
a submit with an ``idempotency_key`` may be retried safely, one without is not retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TERMINAL = frozenset({"completed", "failed", "cancelled"})


# -- errors ---------------------------------------------------------------------------------------


class ProblemError(Exception):
    """An error answer: its problem document's ``status``, ``title``, ``detail``, ``type``."""

    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank") -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail, self.type = status, title, detail, type_


class Unauthorized(ProblemError):
    """401: no key, or a key that is unknown or revoked."""


class Forbidden(ProblemError):
    """403: the key may not do this (an admin route)."""


class NotFound(ProblemError):
    """404: no such job (or one of another owner)."""


class Conflict(ProblemError):
    """409: e.g. an idempotency key reused with another body, a job that can no longer move."""


class Invalid(ProblemError):
    """422 (or 400, 413, 415): the request was wrong; the detail says what."""


class Unavailable(ProblemError):
    """503: the service is busy or a backend is down, after every retry."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: Invalid, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: Invalid,
    415: Invalid, 422: Invalid, 503: Unavailable,
}  # fmt: skip


def problem(response: httpx.Response) -> ProblemError:
    """The exception an error answer stands for."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = _BY_STATUS.get(response.status_code, ProblemError)
    return kind(
        response.status_code,
        str(body.get("title") or response.reason_phrase),
        str(body.get("detail") or response.text[:300]),
        str(body.get("type") or "about:blank"),
    )


# -- models ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    pct: float
    note: str


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Job:
    """A job as ``GET /jobs/{id}`` answers it (``raw``: the whole answer)."""

    job_id: str
    type: str
    status: str
    attempt: int
    max_attempts: int
    progress: Progress
    error: dict[str, Any] | None
    result: Any
    result_stored: bool
    artifacts: tuple[Artifact, ...]
    created_at: str
    updated_at: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            job_id=data["job_id"],
            type=data["type"],
            status=data["status"],
            attempt=data["attempt"],
            max_attempts=data["max_attempts"],
            progress=Progress(**data["progress"]),
            error=data.get("error"),
            result=data.get("result"),
            result_stored=bool(data.get("result_stored")),
            artifacts=tuple(Artifact(**a) for a in data.get("artifacts") or ()),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            raw=data,
        )


@dataclass(frozen=True)
class Event:
    """One line of a job's history (``GET /jobs/{id}/events``)."""

    at: str
    kind: str
    status: str
    attempt: int
    detail: Mapping[str, Any]


# -- the sync client ------------------------------------------------------------------------------


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(str(response.headers.get("Retry-After", "")))
        return min(30.0, max(0.0, wait))
    except ValueError:
        return min(30.0, 0.5 * 2.0**attempt)


def _submit_body(job_type: str, payload: Any, max_attempts: int | None, delay: float | None) -> Any:
    body: dict[str, Any] = {"type": job_type, "payload": payload}
    if max_attempts is not None:
        body["max_attempts"] = max_attempts
    if delay is not None:
        body["delay_seconds"] = delay
    return body


def _batch_results(answer: httpx.Response) -> list[Job | ProblemError]:
    """``POST /jobs/batch``'s answer: each job, or the error its own submit would have raised."""
    results: list[Job | ProblemError] = []
    for item in answer.json()["results"]:
        if item.get("job") is not None:
            results.append(Job.of(item["job"]))
            continue
        body = item.get("problem") or {}
        status = int(item["status"])
        kind = _BY_STATUS.get(status, ProblemError)
        title, detail = str(body.get("title", "")), str(body.get("detail", ""))
        results.append(kind(status, title, detail, str(body.get("type", "about:blank"))))
    return results


class _Sse:
    """Server-Sent Events, a line at a time: ``feed`` returns (event name, data) at the end of
    each message (keep-alive comments are skipped)."""

    def __init__(self) -> None:
        self._name, self._data = "message", list[str]()

    def feed(self, line: str) -> tuple[str, dict[str, Any]] | None:
        if line.startswith("event:"):
            self._name = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].strip())
        elif not line and self._data:
            message = (self._name, json.loads("\n".join(self._data)))
            self._name, self._data = "message", []
            return message
        return None


class Client:
    """jobgate's API from Python. ``url``: the API's base URL; ``api_key``: a user's key (or
    the admin's). ``retries``: how often a 503 is retried (after ``Retry-After``)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
            transport=transport,
        )  # fmt: skip
        self._retries = retries

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code != 503 or not retry or attempt == self._retries:
                break
            time.sleep(_retry_after(response, attempt))
        if response.status_code >= 400:
            raise problem(response)
        return response

    def submit(
        self,
        job_type: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float | None = None,
    ) -> Job:
        """Submit a job (``202``): the job as recorded, ``queued``. With an idempotency key, a
        repeat returns the same job (and a 503 is retried safely)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = _submit_body(job_type, payload, max_attempts, delay_seconds)
        answer = self._call("POST", "/jobs", json=body, headers=headers,
                            retry=idempotency_key is not None)  # fmt: skip
        return Job.of(answer.json())

    def submit_many(self, jobs: Sequence[Mapping[str, Any]]) -> list[Job | ProblemError]:
        """Up to 25 jobs in one request (``POST /jobs/batch``), each a ``POST /jobs`` body
        (``type``, ``payload``, …) with an optional ``idempotency_key``. Returns, in order, each
        job or the error its own submit would have raised (a whole-request error raises). A
        503 is retried only when every job carries an idempotency key."""
        keyed = all(job.get("idempotency_key") for job in jobs)
        answer = self._call("POST", "/jobs/batch", json={"jobs": list(jobs)}, retry=keyed)
        return _batch_results(answer)

    def get(self, job_id: str, *, wait: float | None = None) -> Job:
        """The job now; with ``wait`` (≤ 30 s), as soon as its status changes."""
        params = {"wait": wait} if wait else None
        return Job.of(self._call("GET", f"/jobs/{job_id}", params=params).json())

    def events(self, job_id: str) -> list[Event]:
        data = self._call("GET", f"/jobs/{job_id}/events").json()
        return [Event(**e) for e in data["events"]]

    def stream(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's events as they happen (``job.started``, ``job.progress``, …), ending at a
        final state: (notice type, data) pairs from ``GET /jobs/{id}/events/stream``."""
        with self._http.stream("GET", f"/jobs/{job_id}/events/stream", timeout=None) as answer:
            if answer.status_code >= 400:
                answer.read()
                raise problem(answer)
            parser = _Sse()
            for line in answer.iter_lines():
                if (message := parser.feed(line)) is not None:
                    yield message

    def wait(self, job_id: str, timeout: float = 600.0) -> Job:
        """Block until the job is final (or ``timeout``: then the job as it is). Follows the
        event stream; where the stream cannot be had, long-polls ``?wait=``."""
        deadline = time.monotonic() + timeout
        try:
            for _name, _data in self.stream(job_id):
                if time.monotonic() > deadline:
                    break
        except (httpx.HTTPError, ProblemError) as exc:
            if isinstance(exc, NotFound):
                raise
        job = self.get(job_id)
        while not job.done and time.monotonic() < deadline:
            job = self.get(job_id, wait=min(30.0, max(1.0, deadline - time.monotonic())))
        return job

    def result(self, job_id: str) -> Any:
        """The completed job's result: inline, or fetched from its signed URL."""
        answer = self._call("GET", f"/jobs/{job_id}/result", follow_redirects=False)
        if answer.status_code in (302, 303, 307):
            stored = httpx.get(_absolute(self._http, answer.headers["location"]), timeout=60)
            stored.raise_for_status()
            return stored.json()
        return answer.json()["result"]

    def download(self, job_id: str, to: str | Path, artifact: str | None = None) -> Path:
        """Download the job's artifact (or stored result) through a fresh signed URL; ``to``: a
        folder (the file keeps its name) or a file path. Returns the file's path."""
        params = {"artifact": artifact} if artifact else None
        link = self._call("GET", f"/jobs/{job_id}/download-url", params=params).json()["url"]
        target = _target(Path(to), artifact or link.split("?")[0].rsplit("/", 1)[-1])
        with httpx.stream("GET", _absolute(self._http, link), timeout=60) as body:
            body.raise_for_status()
            with target.open("wb") as out:
                for chunk in body.iter_bytes():
                    out.write(chunk)
        return target

    def cancel(self, job_id: str) -> Job:
        """Cancel: a queued job at once, a running one when its handler next checks."""
        return Job.of(self._call("DELETE", f"/jobs/{job_id}").json())

    def jobs(
        self, *, status: str | None = None, job_type: str | None = None, page_size: int = 50
    ) -> Iterator[Job]:
        """Every job (yours, or everyone's for the admin), newest first, a page at a time."""
        params: dict[str, Any] = {"limit": page_size}
        if status:
            params["status"] = status
        if job_type:
            params["type"] = job_type
        while True:
            page = self._call("GET", "/jobs", params=params).json()
            yield from (Job.of(j) for j in page["jobs"])
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]


def _absolute(http: httpx.Client | httpx.AsyncClient, link: str) -> str:
    return link if "://" in link else f"{str(http.base_url).rstrip('/')}{link}"


def _target(to: Path, name: str) -> Path:
    if to.is_dir():
        return to / (name or "download")
    to.parent.mkdir(parents=True, exist_ok=True)
    return to


# -- the async client -----------------------------------------------------------------------------


class AsyncClient:
    """:class:`Client`'s methods as coroutines (``jobs`` and ``stream``: async iterators)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
            transport=transport,
        )  # fmt: skip
        self._retries = retries

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        for attempt in range(self._retries + 1):
            response = await self._http.request(method, path, **kwargs)
            if response.status_code != 503 or not retry or attempt == self._retries:
                break
            await asyncio.sleep(_retry_after(response, attempt))
        if response.status_code >= 400:
            raise problem(response)
        return response

    async def submit(
        self,
        job_type: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float | None = None,
    ) -> Job:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = _submit_body(job_type, payload, max_attempts, delay_seconds)
        answer = await self._call("POST", "/jobs", json=body, headers=headers,
                                  retry=idempotency_key is not None)  # fmt: skip
        return Job.of(answer.json())

    async def submit_many(self, jobs: Sequence[Mapping[str, Any]]) -> list[Job | ProblemError]:
        keyed = all(job.get("idempotency_key") for job in jobs)
        answer = await self._call("POST", "/jobs/batch", json={"jobs": list(jobs)}, retry=keyed)
        return _batch_results(answer)

    async def get(self, job_id: str, *, wait: float | None = None) -> Job:
        params = {"wait": wait} if wait else None
        return Job.of((await self._call("GET", f"/jobs/{job_id}", params=params)).json())

    async def events(self, job_id: str) -> list[Event]:
        data = (await self._call("GET", f"/jobs/{job_id}/events")).json()
        return [Event(**e) for e in data["events"]]

    async def stream(self, job_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async with self._http.stream(
            "GET", f"/jobs/{job_id}/events/stream", timeout=None
        ) as answer:
            if answer.status_code >= 400:
                await answer.aread()
                raise problem(answer)
            parser = _Sse()
            async for line in answer.aiter_lines():
                if (message := parser.feed(line)) is not None:
                    yield message

    async def wait(self, job_id: str, timeout: float = 600.0) -> Job:
        deadline = time.monotonic() + timeout
        try:
            async for _message in self.stream(job_id):
                if time.monotonic() > deadline:
                    break
        except (httpx.HTTPError, ProblemError) as exc:
            if isinstance(exc, NotFound):
                raise
        job = await self.get(job_id)
        while not job.done and time.monotonic() < deadline:
            job = await self.get(job_id, wait=min(30.0, max(1.0, deadline - time.monotonic())))
        return job

    async def result(self, job_id: str) -> Any:
        answer = await self._call("GET", f"/jobs/{job_id}/result", follow_redirects=False)
        if answer.status_code in (302, 303, 307):
            async with httpx.AsyncClient(timeout=60) as plain:
                stored = await plain.get(_absolute(self._http, answer.headers["location"]))
            stored.raise_for_status()
            return stored.json()
        return answer.json()["result"]

    async def download(self, job_id: str, to: str | Path, artifact: str | None = None) -> Path:
        params = {"artifact": artifact} if artifact else None
        link = (await self._call("GET", f"/jobs/{job_id}/download-url", params=params)).json()[
            "url"
        ]
        target = _target(Path(to), artifact or link.split("?")[0].rsplit("/", 1)[-1])
        async with httpx.AsyncClient(timeout=60) as plain:
            answer = await plain.get(_absolute(self._http, link))
        answer.raise_for_status()
        target.write_bytes(answer.content)
        return target

    async def cancel(self, job_id: str) -> Job:
        return Job.of((await self._call("DELETE", f"/jobs/{job_id}")).json())

    async def jobs(
        self, *, status: str | None = None, job_type: str | None = None, page_size: int = 50
    ) -> AsyncIterator[Job]:
        params: dict[str, Any] = {"limit": page_size}
        if status:
            params["status"] = status
        if job_type:
            params["type"] = job_type
        while True:
            page = (await self._call("GET", "/jobs", params=params)).json()
            for item in page["jobs"]:
                yield Job.of(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]
