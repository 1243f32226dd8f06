"""EventBridge schedule expressions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobgate.domain.schedule import parse
from jobgate.errors import ValidationFailed


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def at(t: float | None) -> str:
    assert t is not None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M %a")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", ts(2026, 1, 1, 10, 2), "2026-01-01 10:05 Thu"),
        ("rate(1 hour)", ts(2026, 1, 1, 10, 0), "2026-01-01 11:00 Thu"),
        ("rate(2 days)", ts(2026, 1, 1, 10, 0), "2026-01-03 00:00 Sat"),  # epoch-anchored
        ("cron(0 12 * * ? *)", ts(2026, 1, 1, 12, 0), "2026-01-02 12:00 Fri"),
        ("cron(15 10 ? * 6L 2026)", ts(2026, 1, 1), "2026-01-30 10:15 Fri"),
        ("cron(0 9 ? * MON-FRI *)", ts(2026, 1, 2, 10, 0), "2026-01-05 09:00 Mon"),
        ("cron(0/15 * * * ? *)", ts(2026, 1, 1, 10, 7), "2026-01-01 10:15 Thu"),
        ("cron(0 0 L * ? *)", ts(2026, 2, 3), "2026-02-28 00:00 Sat"),
        ("cron(0 8 ? * 2#1 *)", ts(2026, 3, 1), "2026-03-02 08:00 Mon"),
        ("cron(0 8 15W * ? *)", ts(2026, 3, 1), "2026-03-16 08:00 Mon"),  # 15th is a Sunday
        ("cron(30 6 1 JAN,JUL ? *)", ts(2026, 2, 1), "2026-07-01 06:30 Wed"),
    ],
)
def test_next_tick(expression: str, after: float, expected: str) -> None:
    assert at(parse(expression).next_after(after)) == expected


def test_ticks_between_is_half_open() -> None:
    schedule = parse("rate(1 minute)")
    ticks = list(schedule.ticks_between(ts(2026, 1, 1, 0, 0), ts(2026, 1, 1, 0, 3)))
    assert [at(t) for t in ticks] == [
        "2026-01-01 00:01 Thu",
        "2026-01-01 00:02 Thu",
        "2026-01-01 00:03 Thu",
    ]


def test_a_cron_limited_to_past_years_never_fires() -> None:
    assert parse("cron(0 0 1 1 ? 1999)").next_after(ts(2026, 1, 1)) is None


@pytest.mark.parametrize(
    "bad",
    [
        "every 5 minutes",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "cron(0 12 * * *)",  # five fields
        "cron(0 12 * * * *)",  # neither day field is '?'
        "cron(0 12 ? * ? *)",  # both are
        "cron(61 12 * * ? *)",
        "cron(0 12 * FOO ? *)",
        "cron(0 12 5-1 * ? *)",
    ],
)
def test_bad_expressions_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse(bad)
    assert bad in refused.value.detail
