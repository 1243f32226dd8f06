"""Schedule expressions in Amazon EventBridge's syntax, so one definition runs locally and on AWS.

* ``rate(5 minutes)``, ``rate(1 hour)``, ``rate(2 days)``: ticks fall on whole multiples of the
  interval since the Unix epoch (UTC), so every scheduler process computes the same tick times.
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields, UTC. Supports
  ``*``, ``?``, lists (``,``), ranges (``-``), steps (``/``), month names (``JAN``…) and weekday
  names (``SUN``…; ``1`` is Sunday as in EventBridge), ``L`` (last day of month, or ``6L``: last
  Friday), ``15W`` (weekday nearest the 15th) and ``6#3`` (third Friday). One of day-of-month and
  day-of-week must be ``?``, as EventBridge requires.

:func:`parse` raises :class:`~jobgate.errors.ValidationFailed` with the reason for anything else.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobgate.errors import ValidationFailed

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MAX_SCAN_MINUTES = 5 * 366 * 24 * 60  # a cron that never fires within 5 years is an error


class Schedule:
    """A parsed expression; ``next_after(t)`` is the first tick strictly after ``t``."""

    expression: str

    def next_after(self, t: float) -> float | None:
        raise NotImplementedError

    def ticks_between(self, start: float, end: float) -> Iterator[float]:
        """Ticks ``t`` with ``start < t <= end``, in order."""
        tick = self.next_after(start)
        while tick is not None and tick <= end:
            yield tick
            tick = self.next_after(tick)


@dataclass(frozen=True)
class RateSchedule(Schedule):
    expression: str
    seconds: int

    def next_after(self, t: float) -> float:
        return float((int(t // self.seconds) + 1) * self.seconds)


DayMatcher = Callable[[datetime], bool]


@dataclass(frozen=True)
class CronSchedule(Schedule):
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_matches: DayMatcher

    def next_after(self, t: float) -> float | None:
        moment = datetime.fromtimestamp(t, UTC).replace(second=0, microsecond=0)
        moment += timedelta(minutes=1)
        for _ in range(_MAX_SCAN_MINUTES):
            if moment.year not in self.years:
                if moment.year > max(self.years):
                    return None
                moment = datetime(moment.year + 1, 1, 1, tzinfo=UTC)
            elif moment.month not in self.months:
                moment = _first_of_next_month(moment)
            elif not self.day_matches(moment):
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
            elif moment.hour not in self.hours:
                moment = (moment + timedelta(hours=1)).replace(minute=0)
            elif moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
            else:
                return moment.timestamp()
        return None


def parse(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression; raise ValidationFailed naming what is wrong."""
    text = expression.strip()
    if match := _RATE.match(text):
        value, unit = int(match.group(1)), match.group(2)
        if value <= 0:
            raise ValidationFailed(f"{expression!r}: the rate must be a positive number")
        return RateSchedule(text, value * _UNIT_SECONDS[unit.rstrip("s")])
    if match := _CRON.match(text):
        return _parse_cron(text, match.group(1).split())
    raise ValidationFailed(
        f"{expression!r} is not a schedule expression: use 'rate(5 minutes)' or "
        "'cron(0 12 * * ? *)' (EventBridge syntax)"
    )


def _parse_cron(text: str, fields: list[str]) -> CronSchedule:
    if len(fields) != 6:
        raise ValidationFailed(
            f"{text!r}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)"
        )
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    if (dom_f == "?") == (dow_f == "?"):
        raise ValidationFailed(f"{text!r}: exactly one of day-of-month and day-of-week must be '?'")
    try:
        minutes = _values(minute_f, 0, 59, {})
        hours = _values(hour_f, 0, 23, {})
        months = _values(month_f, 1, 12, _MONTHS)
        years = _values(year_f, 1970, 2199, {})
        day_matches = _day_of_month(dom_f) if dow_f == "?" else _day_of_week(dow_f)
    except ValueError as exc:
        raise ValidationFailed(f"{text!r}: {exc}") from exc
    return CronSchedule(text, minutes, hours, months, years, day_matches)


def _values(field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    result: set[int] = set()
    for part in field.split(","):
        result |= _part_values(part, low, high, names)
    return frozenset(result)


def _part_values(part: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    step = 1
    if "/" in part:
        part, step_text = part.split("/", 1)
        step = _number(step_text, 1, high, {})
    if part in ("*", "?"):
        start, stop = low, high
    elif "-" in part:
        first, last = part.split("-", 1)
        start, stop = _number(first, low, high, names), _number(last, low, high, names)
        if start > stop:
            raise ValueError(f"range {part!r} runs backwards")
    else:
        start = _number(part, low, high, names)
        stop = high if step > 1 else start
    return set(range(start, stop + 1, step))


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(f"{text!r} is not a number between {low} and {high}")
        value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def _day_of_month(field: str) -> DayMatcher:
    if field == "L":
        return lambda d: d.day == _days_in_month(d)
    if field.endswith("W") and field[:-1].isdigit():
        target = _number(field[:-1], 1, 31, {})
        return lambda d: d.day == _nearest_weekday(d, target)
    days = _values(field, 1, 31, {})
    return lambda d: d.day in days


def _day_of_week(field: str) -> DayMatcher:
    if "#" in field:
        weekday_text, nth_text = field.split("#", 1)
        weekday, nth = _number(weekday_text, 1, 7, _WEEKDAYS), _number(nth_text, 1, 5, {})
        return lambda d: _eb_weekday(d) == weekday and (d.day - 1) // 7 + 1 == nth
    if field.endswith("L") and len(field) > 1:
        weekday = _number(field[:-1], 1, 7, _WEEKDAYS)
        return lambda d: _eb_weekday(d) == weekday and d.day + 7 > _days_in_month(d)
    weekdays = _values(field, 1, 7, _WEEKDAYS)
    return lambda d: _eb_weekday(d) in weekdays


def _eb_weekday(d: datetime) -> int:
    """EventBridge numbers weekdays 1 (Sunday) to 7 (Saturday)."""
    return (d.weekday() + 1) % 7 + 1


def _days_in_month(d: datetime) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def _nearest_weekday(d: datetime, target: int) -> int:
    day = min(target, _days_in_month(d))
    weekday = calendar.weekday(d.year, d.month, day)  # Monday = 0
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < _days_in_month(d) else day - 2
    return day


def _first_of_next_month(d: datetime) -> datetime:
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)
