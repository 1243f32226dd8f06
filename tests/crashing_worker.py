"""A worker that kills itself (SIGKILL, as ``kill -9`` does) at one step of settling a job.

    python -m tests.crashing_worker STEP

Builds jobgate from the environment (the JOBGATE_* and aws settings the test sets), receives
one message and processes it, with the process killed at ``STEP``:

* ``claimed``: right after the claim is stored, before the handler runs;
* ``ran``: after the handler returned, before anything is settled;
* ``result_stored``: after the result blob is written (results over the inline size);
* ``settling``: just before the completing write;
* ``settled``: after the completing write, before the message is acknowledged;
* ``acked``: after the message is acknowledged (deleted).

Exits 3 if the step was never reached.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from jobgate import bootstrap
from jobgate.domain.models import EventKind
from jobgate.settings import Settings

STEPS = ("claimed", "ran", "result_stored", "settling", "settled", "acked")


def die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(step: str) -> int:
    services = bootstrap.build(Settings(), admin=False)
    backend = services.backend
    jobs, queue, blobs = backend.jobs, backend.queue, backend.blobs
    transition, put = jobs.transition, blobs.put

    def on_transition(t: Any) -> Any:
        kind = t.event.kind if t.event is not None else None
        if step == "settling" and kind is EventKind.COMPLETED:
            die()
        stored = transition(t)
        if (step, kind) in (("claimed", EventKind.CLAIMED), ("settled", EventKind.COMPLETED)):
            die()
        return stored

    def on_put(key: str, data: bytes, content_type: str) -> Any:
        ref = put(key, data, content_type)
        if step == "result_stored" and key.endswith("result.json"):
            die()
        return ref

    jobs.transition = on_transition  # type: ignore[method-assign,assignment]
    blobs.put = on_put  # type: ignore[method-assign]
    executor = services.executor("crashing")
    if step == "ran":
        run_handler = executor.run_handler

        def ran(run: Any) -> Any:
            outcome = run_handler(run)
            die()
            return outcome

        executor.run_handler = ran  # type: ignore[method-assign]
    for _ in range(50):
        deliveries = queue.receive(1, 1, services.settings.visibility_timeout)
        if deliveries:
            executor.process(deliveries[0])  # its atomic() scope has ended: the ack is sent
            if step == "acked":
                die()
            return 3
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
