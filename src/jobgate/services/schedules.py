"""The scheduler's policy: turn due ticks into jobs, once per tick, however many schedulers run.

Each tick is submitted with the idempotency key ``schedule:{name}:{tick}``, so two schedulers
that see the same tick (or EventBridge delivering one event twice) make one job. After a gap
(the scheduler was down) only the latest due tick is enqueued; the ones skipped are counted in
the schedule's ``missed`` figure and logged, so a missed tick is visible, not silently lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from jobgate.domain.models import ScheduleState
from jobgate.logs import get_logger
from jobgate.ports import Backend
from jobgate.registry import JobGate, ScheduleSpec
from jobgate.services.jobs import JobService

SCHEDULER_OWNER = "system:scheduler"


def tick_key(name: str, tick: float) -> str:
    stamp = datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"schedule:{name}:{stamp}"


@dataclass(frozen=True)
class ScheduleView:
    spec: ScheduleSpec
    state: ScheduleState
    next_tick: float | None


class ScheduleService:
    def __init__(
        self,
        backend: Backend,
        app: JobGate,
        jobs: JobService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self._app = app
        self._jobs = jobs
        self._clock = clock
        self._log = get_logger(component="scheduler")

    def tick(self) -> int:
        """Enqueue every schedule's due tick; return how many jobs this call created."""
        now = self._clock()
        return sum(self.fire(spec, now) for spec in self._app.schedules.values())

    def fire(self, spec: ScheduleSpec, now: float) -> int:
        state = self._b.schedules.get_state(spec.name)
        if state.last_tick is None:
            # First sighting: start counting from now, never backfill history.
            self._b.schedules.advance(state, now, 0)
            return 0
        due = list(spec.schedule.ticks_between(state.last_tick, now))
        if not due:
            return 0
        latest, missed = due[-1], len(due) - 1
        return self.enqueue_tick(spec, latest, state, missed)

    def enqueue_tick(
        self, spec: ScheduleSpec, tick: float, state: ScheduleState | None = None, missed: int = 0
    ) -> int:
        """Submit the job for ``tick`` (idempotent per schedule and tick) and advance the state."""
        _, created = self._jobs.submit(
            SCHEDULER_OWNER, spec.job_type, spec.payload, idempotency_key=tick_key(spec.name, tick)
        )
        if missed:
            self._log.warning("schedule_ticks_missed", schedule=spec.name, missed=missed)
        if state is not None:
            self._b.schedules.advance(state, tick, state.missed + missed)
        return int(created)

    def views(self) -> list[ScheduleView]:
        now = self._clock()
        return [
            ScheduleView(spec, self._b.schedules.get_state(name), spec.schedule.next_after(now))
            for name, spec in sorted(self._app.schedules.items())
        ]
