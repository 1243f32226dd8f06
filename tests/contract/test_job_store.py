"""Contract: the job ledger (JobStore), on every backend."""

from __future__ import annotations

import threading
import time

import pytest

from jobgate.domain import transitions as verbs
from jobgate.domain.ids import new_id
from jobgate.domain.models import (
    BlobRef,
    EventKind,
    Job,
    JobError,
    JobEvent,
    JobStatus,
    OutgoingMessage,
    Progress,
)
from jobgate.domain.transitions import Transition
from jobgate.errors import TransitionConflict, ValidationFailed
from jobgate.ports import Backend


def make_job(owner: str = "alice", key: str | None = None, **fields: object) -> Job:
    now = time.time()
    values: dict[str, object] = {
        "job_id": new_id(now),
        "owner": owner,
        "type": "echo",
        "status": JobStatus.QUEUED,
        "created_at": now,
        "updated_at": now,
        "payload": {"n": 1, "text": "héllo"},
        "idempotency_key": key,
        "request_hash": "h1",
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def submitted(job: Job) -> JobEvent:
    """The first event, also for jobs made in other states to set a scene."""
    return verbs.event(job, EventKind.SUBMITTED, job.status, job.created_at, 0)


def claim(job: Job) -> Transition:
    return verbs.claim(job, now=time.time(), worker="w1", lease_seconds=30)


def test_created_job_reads_back_field_for_field(backend: Backend) -> None:
    # given a job with every kind of field set
    job = make_job(
        payload_ref=BlobRef("a/b/payload.json", 10, "ab" * 32, "application/json"),
        progress=Progress(12.5, "note"),
        error=JobError("E", "m", True),
        run_after=time.time() + 5,
    )
    # when it is created and read
    stored, created = backend.jobs.create(job, submitted(job))
    # then it comes back unchanged
    assert created is True
    assert backend.jobs.get(job.job_id) == stored == job


def test_missing_job_is_none(backend: Backend) -> None:
    assert backend.jobs.get(new_id()) is None


def test_get_many_returns_the_jobs_that_exist_by_id(backend: Backend) -> None:
    jobs = [backend.jobs.create(j, submitted(j))[0] for j in (make_job(), make_job("bob"))]
    missing = new_id()
    found = backend.jobs.get_many([jobs[0].job_id, missing, jobs[1].job_id, jobs[0].job_id])
    assert found == {j.job_id: j for j in jobs}
    assert backend.jobs.get_many([]) == {}


def test_events_and_acks_inside_atomic_are_stored_by_its_end(backend: Backend) -> None:
    """atomic() is one transaction locally and batches acks on aws: either way, once the
    scope ends every transition's event is in the history and every ack has taken effect."""
    jobs = [backend.jobs.create(j, submitted(j))[0] for j in (make_job() for _ in range(30))]
    backend.queue.send([OutgoingMessage(j.job_id) for j in jobs[:3]])
    deliveries = backend.queue.receive(10, visibility_timeout=1, wait_seconds=1)
    with backend.atomic():
        for job in jobs:
            backend.jobs.transition(claim(job))
        backend.queue.ack([d.receipt for d in deliveries])
    assert all(
        [e.kind for e in backend.jobs.events(j.job_id)] == ["submitted", "claimed"] for j in jobs
    )
    time.sleep(1.5)  # past the visibility timeout: an acked message never comes back
    assert backend.queue.receive(10, visibility_timeout=1, wait_seconds=0) == []


def test_same_owner_and_key_returns_the_first_job(backend: Backend) -> None:
    first = make_job(key="k1")
    backend.jobs.create(first, submitted(first))
    second = make_job(key="k1", request_hash="h2")
    stored, created = backend.jobs.create(second, submitted(second))
    assert created is False
    assert stored.job_id == first.job_id
    assert backend.jobs.get(second.job_id) is None


def test_create_many_makes_each_job_with_its_event_and_replays_a_key(backend: Backend) -> None:
    # given 30 jobs (more than one write call holds on DynamoDB), two sharing a key
    earlier = make_job(key="taken")
    backend.jobs.create(earlier, submitted(earlier))
    jobs = [make_job(key=("k" if n in (3, 7) else None)) for n in range(28)]
    jobs += [make_job(key="taken"), make_job("bob")]
    # when they are created together
    made = backend.jobs.create_many([(job, submitted(job)) for job in jobs])
    # then each is answered in order: created, or the job its key names
    assert [created for _, created in made] == [n not in (7, 28) for n in range(30)]
    assert made[7][0].job_id == jobs[3].job_id and made[28][0].job_id == earlier.job_id
    stored = backend.jobs.get_many([j.job_id for j in jobs])
    assert set(stored) == {j.job_id for n, j in enumerate(jobs) if n not in (7, 28)}
    assert [e.kind for e in backend.jobs.events(jobs[0].job_id)] == [EventKind.SUBMITTED]
    listed = backend.jobs.list_jobs("alice", limit=200).items
    assert {j.job_id for j in listed} == {earlier.job_id} | (set(stored) - {jobs[29].job_id})


def test_idempotency_keys_are_scoped_to_the_owner(backend: Backend) -> None:
    mine, theirs = make_job("alice", key="k"), make_job("bob", key="k")
    assert backend.jobs.create(mine, submitted(mine))[1] is True
    assert backend.jobs.create(theirs, submitted(theirs))[1] is True


def test_transition_is_compare_and_set_on_version(backend: Backend) -> None:
    job = make_job()
    backend.jobs.create(job, submitted(job))
    moved = backend.jobs.transition(claim(job))
    assert moved.version == job.version + 1
    assert backend.jobs.get(job.job_id) == moved
    # a second writer holding the old version loses, and learns the current record
    with pytest.raises(TransitionConflict) as lost:
        backend.jobs.transition(verbs.cancel(job, now=time.time()))
    assert lost.value.current == moved
    assert [e.kind for e in backend.jobs.events(job.job_id)] == ["submitted", "claimed"]


def test_transition_many_answers_each_on_its_own_compare_and_set(backend: Backend) -> None:
    # given three queued jobs, one of which moves on before the batch, and one that is gone
    jobs = [make_job() for _ in range(4)]
    for job in jobs[:3]:
        backend.jobs.create(job, submitted(job))
    backend.jobs.transition(claim(jobs[1]))
    # when all four are claimed in one call
    results = backend.jobs.transition_many([claim(job) for job in jobs])
    # then the first and third are stored with their events, the others are conflicts
    assert [type(r).__name__ for r in results] == [
        "Job", "TransitionConflict", "Job", "TransitionConflict"
    ]  # fmt: skip
    first, moved, third, gone = results
    assert isinstance(first, Job) and first.status is JobStatus.PROCESSING and first.version == 2
    assert isinstance(moved, TransitionConflict) and moved.current is not None
    assert moved.current.version == 2  # the stored job, to decide again on
    assert isinstance(gone, TransitionConflict) and gone.current is None
    assert backend.jobs.get(jobs[2].job_id) == third
    kinds = [e.kind for e in backend.jobs.events(jobs[0].job_id)]
    assert kinds == [EventKind.SUBMITTED, EventKind.CLAIMED]
    assert backend.jobs.transition_many([]) == []


def test_events_carry_their_id_job_owner_type_and_details(backend: Backend) -> None:
    job = make_job("erin", type="report")
    backend.jobs.create(job, verbs.submitted(job))
    claiming = claim(job)
    backend.jobs.transition(claiming)
    first, second = backend.jobs.events(job.job_id)
    assert second == claiming.event
    assert (second.owner, second.job_type, second.attempt) == ("erin", "report", 1)
    assert second.detail == {"worker": "w1"} and second.kind is EventKind.CLAIMED
    assert first.event_id != second.event_id


def test_concurrent_claims_have_one_winner(backend: Backend) -> None:
    job = make_job()
    backend.jobs.create(job, submitted(job))
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        try:
            backend.jobs.transition(claim(job))
            wins.append(n)
        except TransitionConflict:
            pass

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert [e.kind for e in backend.jobs.events(job.job_id)] == ["submitted", "claimed"]


def test_events_are_appended_in_order(backend: Backend) -> None:
    job = make_job()
    backend.jobs.create(job, submitted(job))
    claimed = backend.jobs.transition(claim(job))
    now = time.time()
    halfway = verbs.report_progress(claimed, attempt=1, now=now, progress=Progress(50))
    more = backend.jobs.transition(halfway)  # crosses a tenth: an event
    done = backend.jobs.transition(
        verbs.report_progress(more, attempt=1, now=now, progress=Progress(55))
    )  # within the same tenth: none
    backend.jobs.transition(verbs.complete(done, attempt=1, now=time.time(), result=1))
    kinds = [e.kind for e in backend.jobs.events(job.job_id)]
    assert kinds == ["submitted", "claimed", "progress", "completed"]


def test_listing_pages_newest_first_with_filters(backend: Backend) -> None:
    jobs = []
    for i in range(7):
        job = make_job("carol", type="echo" if i % 2 else "other")
        backend.jobs.create(job, submitted(job))
        jobs.append(job)
        time.sleep(0.002)  # distinct milliseconds keep the expected order exact
    other = make_job("dave")
    backend.jobs.create(other, submitted(other))

    page1 = backend.jobs.list_jobs("carol", limit=3)
    page2 = backend.jobs.list_jobs("carol", limit=3, cursor=page1.cursor)
    page3 = backend.jobs.list_jobs("carol", limit=3, cursor=page2.cursor)
    ids = [j.job_id for p in (page1, page2, page3) for j in p.items]
    assert ids == [j.job_id for j in reversed(jobs)]
    assert page3.cursor is None
    echo_only = backend.jobs.list_jobs("carol", job_type="echo")
    assert {j.type for j in echo_only.items} == {"echo"} and len(echo_only.items) == 3
    assert backend.jobs.list_jobs("carol", status=JobStatus.COMPLETED).items == []
    assert len(backend.jobs.list_jobs(None).items) == 8


def test_the_admin_listing_is_newest_first_across_pages(backend: Backend) -> None:
    # given 12 jobs of three owners, made in a known order
    made = []
    for i in range(12):
        job = make_job(("ann", "ben", "cid")[i % 3], type="echo" if i % 4 else "other")
        backend.jobs.create(job, submitted(job))
        made.append(job.job_id)
        time.sleep(0.002)
    # when the admin pages through every owner's jobs, 4 at a time
    pages, cursor = [], None
    for _ in range(3):
        page = backend.jobs.list_jobs(None, limit=4, cursor=cursor)
        pages.append([j.job_id for j in page.items])
        cursor = page.cursor
    # then the three pages are strictly newest first, and the last one says there is no more
    assert [i for p in pages for i in p] == list(reversed(made))
    assert cursor is None
    # and a filter keeps the order across pages too
    first = backend.jobs.list_jobs(None, job_type="other", limit=2)
    rest = backend.jobs.list_jobs(None, job_type="other", limit=2, cursor=first.cursor)
    others = [made[i] for i in range(12) if i % 4 == 0]
    assert [j.job_id for j in first.items + rest.items] == list(reversed(others))
    assert rest.cursor is None


def test_a_forged_cursor_is_a_validation_error(backend: Backend) -> None:
    with pytest.raises(ValidationFailed):
        backend.jobs.list_jobs("x", cursor="!!not base64!!\x00")


def test_stale_finds_old_queued_and_expired_leases(backend: Backend) -> None:
    old = make_job(created_at=100.0, updated_at=100.0)
    fresh = make_job()
    leased = make_job(status=JobStatus.PROCESSING, lease_expires_at=200.0)
    live = make_job(status=JobStatus.PROCESSING, lease_expires_at=time.time() + 60)
    for job in (old, fresh, leased, live):
        backend.jobs.create(job, submitted(job))
    before = time.time() - 1
    assert [j.job_id for j in backend.jobs.stale(JobStatus.QUEUED, before)] == [old.job_id]
    assert [j.job_id for j in backend.jobs.stale(JobStatus.PROCESSING, before)] == [leased.job_id]


def test_events_past_retention_expire(backend: Backend) -> None:
    if backend.name == "aws":
        pytest.skip("on aws a job's history lives in its item, as long as the job")
    job = make_job()
    backend.jobs.create(job, submitted(job))
    assert backend.jobs.expire_events(time.time()) == 0
    assert backend.jobs.expire_events(time.time() + 365 * 86400) == 1
    assert backend.jobs.events(job.job_id) == []
