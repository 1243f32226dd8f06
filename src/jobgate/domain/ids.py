"""Sortable identifiers.

A job id is a ULID: 48 bits of milliseconds since the epoch, then 80 random bits, in Crockford
base32 (26 characters). Ids sort by creation time to the millisecond, so listings can page by
id alone, and they carry no owner information a caller could guess from.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALID = frozenset(_ALPHABET)


# Two characters per 10 bits: a 130-bit ULID (128 bits, two leading zeros) is 13 lookups.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _encode(value: int) -> str:
    return "".join(_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10))


_last = [0, 0]  # the millisecond and random part of the newest id made in this process
_lock = threading.Lock()


def new_id(now: float | None = None) -> str:
    """Return a fresh ULID for ``now`` (epoch seconds, default: the wall clock).

    Monotonic within a process (the ULID spec's rule): a second id in the same millisecond is
    the previous one plus one, so ids made one after another sort in the order they were made
    (a job's events, the jobs of a batch), not only to the millisecond."""
    millis = int((time.time() if now is None else now) * 1000)
    with _lock:
        if millis == _last[0] and _last[1] < (1 << 80) - 1:
            rand = _last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to count up
        _last[0], _last[1] = millis, rand
    return _encode((millis << 80) | rand)


def id_floor(at: float) -> str:
    """The smallest id :func:`new_id` can make at time ``at``: ids below it are older."""
    return _encode(int(at * 1000) << 80)


def is_valid_id(text: str) -> bool:
    """True when ``text`` has the shape of an id made by :func:`new_id`."""
    return len(text) == 26 and text[0] in "01234567" and all(c in _VALID for c in text)
