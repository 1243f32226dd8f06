"""Ids, backoff, the registry."""

from __future__ import annotations

import random

import pytest

from jobgate.domain.ids import is_valid_id, new_id
from jobgate.domain.retry import Backoff
from jobgate.errors import ConfigurationError, ValidationFailed
from jobgate.registry import JobGate, load_app


def test_ids_sort_by_time_and_validate() -> None:
    first, second = new_id(1_000.000), new_id(1_000.002)
    assert first < second and len(first) == 26
    assert is_valid_id(first) and not is_valid_id("../../etc") and not is_valid_id("x" * 26)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    backoff = Backoff(base=1.0, cap=10.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 10.0)]:
        draws = [backoff.delay(attempt, rng) for _ in range(200)]
        assert min(draws) >= 0.5 and max(draws) <= ceiling
        assert len(set(draws)) > 50  # jittered, not constant


def test_registry_refuses_bad_definitions() -> None:
    app = JobGate()
    with pytest.raises(ValueError, match="lowercase"):
        app.job("Bad Name")
    with pytest.raises(ValueError, match="max_attempts"):
        app.job("x", max_attempts=0)
    app.job("x")(lambda p, c: p)
    with pytest.raises(ValueError, match="twice"):
        app.job("x")(lambda p, c: p)
    with pytest.raises(ValidationFailed, match="known types: x"):
        app.get("y")
    with pytest.raises(ValidationFailed):
        app.schedule("rate(never)", job_type="x")


def test_load_app_names_what_is_wrong() -> None:
    # start-up errors: ConfigurationError, one line the CLI prints with exit code 2
    with pytest.raises(ConfigurationError, match=r"package\.module:attribute"):
        load_app("tests.apps")
    with pytest.raises(ConfigurationError, match=r"no JobGate instance named 'record_effect'"):
        load_app("tests.apps:record_effect")
    assert "echo" in load_app("tests.apps:app").job_types
