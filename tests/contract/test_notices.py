"""Contract: subscriptions and the delivery outbox, on every backend (memory, local, and aws
on the emulator: the jobs table's stream and the notifications table)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from jobgate.domain import notices as n
from jobgate.domain import transitions as verbs
from jobgate.domain.ids import new_id
from jobgate.domain.models import JobEvent
from jobgate.domain.notices import Channel, DeliveryStatus, NoticeDelivery, Secret, Subscription
from jobgate.ports import Backend, DeliveryStore, SubscriptionStore
from tests.contract.test_job_store import make_job


@pytest.fixture(params=["memory", "local", "aws"])
def stores(request: pytest.FixtureRequest) -> tuple[Backend, SubscriptionStore, DeliveryStore]:
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    assert backend.subscriptions is not None and backend.notices is not None
    return backend, backend.subscriptions, backend.notices


def subscription(owner: str = "alice", **fields: object) -> Subscription:
    sub = Subscription(
        sub_id=new_id(),
        owner=owner,
        channel=Channel.WEBHOOK,
        target="https://hooks.example.com/x",
        event_types=n.DEFAULT_TYPES,
        job_types=None,
        created_at=time.time(),
        secrets=(Secret("whsec_c2VjcmV0"),),
    )
    return replace(sub, **fields)  # type: ignore[arg-type]


def test_subscriptions_round_trip_and_are_listed_per_owner(
    stores: tuple[Backend, SubscriptionStore, DeliveryStore],
) -> None:
    _, subs, _ = stores
    mine = subscription(job_types=frozenset({"report"}), include_payload=True)
    theirs = subscription("bob")
    for sub in (mine, theirs):
        subs.add_subscription(sub)
    assert subs.get_subscription(mine.sub_id) == mine
    assert subs.subscriptions("alice") == [mine]
    assert len(subs.subscriptions()) == 2
    changed = replace(mine, status=n.SubscriptionStatus.DISABLED, disabled_reason="410")
    subs.save_subscription(changed)
    assert subs.get_subscription(mine.sub_id) == changed
    assert subs.delete_subscription(mine.sub_id) is True
    assert subs.delete_subscription(mine.sub_id) is False
    assert subs.get_subscription(mine.sub_id) is None


def test_dispatch_reads_each_committed_event_once_from_where_it_stopped(
    stores: tuple[Backend, SubscriptionStore, DeliveryStore],
) -> None:
    backend, subs, store = stores
    sub = subscription()
    subs.add_subscription(sub)
    before = make_job()
    backend.jobs.create(before, verbs.submitted(before))  # before the cursor: never dispatched
    store.start_cursor("c")
    store.start_cursor("c")  # a restart resumes: the cursor stays where it was
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        backend.jobs.create(job, verbs.submitted(job))
    seen: list[JobEvent] = []

    def make(events: list[JobEvent]) -> list[NoticeDelivery]:
        seen.extend(events)
        return [d for e in events for d in n.deliveries_for(e, [sub], time.time())]

    assert store.dispatch("c", make, limit=2) == 2
    assert store.dispatch("c", make, limit=2) == 1
    assert store.dispatch("c", make, limit=2) == 0
    assert [e.job_id for e in seen] == [j.job_id for j in jobs]
    deliveries = store.deliveries(sub.sub_id)
    assert {d.job_id for d in deliveries} == {j.job_id for j in jobs}
    assert all(d.notice is n.NoticeType.QUEUED for d in deliveries)


def test_a_delivery_is_claimed_for_its_lease_and_saved_back(
    stores: tuple[Backend, SubscriptionStore, DeliveryStore],
) -> None:
    backend, subs, store = stores
    sub = subscription()
    subs.add_subscription(sub)
    store.start_cursor("c")
    job = make_job()
    backend.jobs.create(job, verbs.submitted(job))
    store.dispatch("c", lambda es: [d for e in es for d in n.deliveries_for(e, [sub], 0.0)], 10)
    now = time.time()
    (claimed,) = store.claim_due(now, 10, lease_seconds=30)
    assert store.claim_due(now, 10, lease_seconds=30) == []  # leased: nobody else takes it
    assert store.claim_due(now + 31, 10, lease_seconds=30) != []  # the lease ran out
    done = replace(claimed, status=DeliveryStatus.DELIVERED, attempts=1, response_code=204)
    store.save_delivery(done)
    assert store.get_delivery(claimed.delivery_id) == done
    assert store.claim_due(now + 100, 10, lease_seconds=30) == []
    # deleting the subscription drops what it still had pending, and keeps its history
    subs.delete_subscription(sub.sub_id)
    assert store.get_delivery(claimed.delivery_id) == done
