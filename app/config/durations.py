"""Durations as Alertmanager and alertflow write them: ``30s``, ``5m``, ``1h30m``, ``2d``, ``1w``.

Prometheus' units (``ms``, ``s``, ``m``, ``h``, ``d``, ``w``, ``y``) in any order, decimals
allowed (``1.5h``), or a bare number of seconds.
"""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 365 * 86_400_000,
}


def duration_ms(value: Any, *, zero: bool = False) -> int:
    """Milliseconds of ``value``; ``zero`` allows a zero duration (``0s``, ``0``).

    >>> duration_ms("1h30m"), duration_ms(90), duration_ms("250ms"), duration_ms("0s", zero=True)
    (5400000, 90000, 250, 0)
    >>> duration_ms("soon")
    Traceback (most recent call last):
    ...
    ValueError: expected a positive duration such as 30s, 5m or 4h, got 'soon'
    """
    total: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        total = value * 1000
    elif isinstance(value, str) and value == "0":
        total = 0
    elif isinstance(value, str) and value and _PART.sub("", value) == "":
        total = sum(float(n) * _UNIT_MS[unit] for n, unit in _PART.findall(value))
    if total is not None and (total > 0 or (zero and total == 0)):
        return int(total)
    kind = "a duration" if zero else "a positive duration"
    raise ValueError(f"expected {kind} such as 30s, 5m or 4h, got {value!r}")


def words(ms: int) -> str:
    """A duration in words, in its largest whole unit.

    >>> words(90_000), words(1_800_000), words(7_200_000)
    ('90s', '30m', '2h')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // 1000}s"
