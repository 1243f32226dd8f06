"""Contract: the queue (JobQueue) and dead-letter queue (DeadLetters), SQS semantics."""

from __future__ import annotations

import threading
import time

import pytest

from jobgate.domain.models import Delivery, OutgoingMessage
from jobgate.errors import StaleReceipt
from jobgate.ports import Backend
from tests.contract.conftest import MAX_RECEIVES, Timing


def msg(n: int, delay: int = 0) -> OutgoingMessage:
    return OutgoingMessage(f'{{"n":{n}}}', {"JobType": "echo"}, delay)


def receive_all(backend: Backend, count: int) -> list[Delivery]:
    """SQS may answer a receive with fewer messages than are there: ask until all came."""
    got: list[Delivery] = []
    for _ in range(10):
        got += backend.queue.receive(count - len(got), 0, 30)
        if len(got) >= count:
            break
    return got


def test_batch_send_receive_ack(backend: Backend) -> None:
    ids = backend.queue.send([msg(i) for i in range(10)])
    got = receive_all(backend, 10)
    assert sorted(d.message_id for d in got) == sorted(ids)
    assert all(d.receive_count == 1 and d.attributes == {"JobType": "echo"} for d in got)
    backend.queue.ack([d.receipt for d in got])
    assert backend.queue.receive(10, 0, 30) == []
    assert backend.queue.stats().depth == 0 and backend.queue.stats().in_flight == 0


def test_received_message_is_hidden_until_visibility_timeout(
    backend: Backend, timing: Timing
) -> None:
    backend.queue.send([msg(1)])
    first = backend.queue.receive(1, 0, timing.visibility)
    assert len(first) == 1
    assert backend.queue.receive(1, 0, timing.visibility) == []
    assert backend.queue.stats().in_flight == 1
    time.sleep(timing.wait)
    again = backend.queue.receive(1, 0, 30)
    assert [d.message_id for d in again] == [first[0].message_id]
    assert again[0].receive_count == 2 and again[0].receipt != first[0].receipt


def test_extend_keeps_message_hidden_and_release_shows_it(backend: Backend, timing: Timing) -> None:
    backend.queue.send([msg(1)])
    (d,) = backend.queue.receive(1, 0, timing.visibility)
    backend.queue.extend(d.receipt, timing.visibility * 5)
    time.sleep(timing.wait)
    assert backend.queue.receive(1, 0, 30) == []
    backend.queue.release(d.receipt, 0)
    assert len(backend.queue.receive(1, 0, 30)) == 1


def test_stale_receipt_cannot_extend_and_its_ack_is_ignored(
    backend: Backend, timing: Timing
) -> None:
    if backend.name == "aws":
        # Checked: moto accepts an old receipt for ChangeMessageVisibility. Whatever SQS does,
        # the ledger's attempt fencing, not the receipt, is what protects a job.
        pytest.skip("moto accepts stale receipts; fencing is the ledger's job on AWS")
    backend.queue.send([msg(1)])
    (old,) = backend.queue.receive(1, 0, timing.visibility)
    time.sleep(timing.wait)
    (new,) = backend.queue.receive(1, 0, 30)
    with pytest.raises(StaleReceipt):
        backend.queue.extend(old.receipt, 10)
    backend.queue.ack([old.receipt])  # SQS: may succeed without deleting
    assert backend.queue.stats().in_flight == 1
    backend.queue.ack([new.receipt])
    assert backend.queue.stats().in_flight == 0


def test_delay_seconds_hides_a_new_message(backend: Backend) -> None:
    backend.queue.send([msg(1, delay=1)])
    assert backend.queue.stats().delayed == 1
    assert backend.queue.receive(1, 0, 30) == []
    assert len(backend.queue.receive(1, 1.5, 30)) == 1


def test_message_received_max_times_moves_to_dead_letters(backend: Backend, timing: Timing) -> None:
    (mid,) = backend.queue.send([msg(1)])
    for count in range(1, MAX_RECEIVES + 1):
        (d,) = backend.queue.receive(1, 0, timing.visibility)
        assert d.receive_count == count
        time.sleep(timing.wait)
    assert backend.queue.receive(1, 0, 30) == []
    dead = backend.dead_letters.peek()
    assert [d.message_id for d in dead] == [mid]
    assert backend.queue.stats().dead_letters == 1


def test_bury_redrive_and_purge(backend: Backend) -> None:
    backend.queue.send([msg(1), msg(2)])
    first, second = sorted(receive_all(backend, 2), key=lambda d: d.body)
    backend.dead_letters.bury(first)
    backend.dead_letters.bury(second)
    assert backend.queue.stats().dead_letters == 2
    assert backend.queue.stats().depth == backend.queue.stats().in_flight == 0
    (target,) = [d for d in backend.dead_letters.peek() if d.body == first.body]
    moved = backend.dead_letters.redrive([target.message_id])
    assert [d.body for d in moved] == [first.body]
    (back,) = backend.queue.receive(10, 0, 30)
    assert back.body == first.body and back.receive_count == 1
    assert backend.dead_letters.purge() == 1
    assert backend.dead_letters.peek() == []


def test_long_poll_wakes_promptly_when_a_message_arrives(backend: Backend) -> None:
    timer = threading.Timer(0.3, lambda: backend.queue.send([msg(1)]))
    started = time.monotonic()
    timer.start()
    got = backend.queue.receive(1, 5, 30)
    waited = time.monotonic() - started
    assert len(got) == 1
    assert waited < 1.0, f"long poll took {waited:.2f}s to notice the message"


def test_long_poll_returns_empty_after_wait(backend: Backend) -> None:
    started = time.monotonic()
    assert backend.queue.receive(1, 0.3, 30) == []
    assert 0.25 <= time.monotonic() - started < 2


def test_stats_count_depth_in_flight_delayed(backend: Backend) -> None:
    backend.queue.send([msg(1), msg(2), msg(3), msg(4, delay=60)])
    assert len(backend.queue.receive(1, 0, 30)) == 1
    stats = backend.queue.stats()
    assert (stats.depth, stats.in_flight, stats.delayed, stats.dead_letters) == (2, 1, 1, 0)
