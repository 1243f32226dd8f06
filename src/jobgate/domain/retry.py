"""Retry policy: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt ``n + 1`` after attempt ``n`` failed.

    Full jitter (a uniform draw in ``[base/2, min(cap, base * 2**(n-1))]``) spreads the retries
    of many jobs that failed together, so a recovering dependency is not hit by a thundering herd.
    """

    base: float
    cap: float

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        floor = min(ceiling, self.base / 2)
        draw = (rng or random).uniform(floor, ceiling)
        return round(draw, 3)
