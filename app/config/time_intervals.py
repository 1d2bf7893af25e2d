"""Alertmanager's ``time_intervals``: when a route is muted or active, with its semantics.

An interval holds when every field it sets holds (a field it omits always holds); a field
holds when any of its ranges does. ``times`` are ``HH:MM`` from ``start_time`` (included) to
``end_time`` (excluded, ``24:00`` allowed); ``weekdays`` are names; ``days_of_month`` are
1…31 or -31…-1 counted from the end of the month; ``months`` are names or 1…12; ranges are
``begin:end``, both included. The time is taken in ``location`` (IANA name, ``Local`` for the
machine's zone), in UTC without one (alertflow's clock is event time, in UTC). A named
interval is active when any of its intervals holds::

    time_intervals:
      - name: offhours
        time_intervals:
          - weekdays: ['saturday', 'sunday']
          - times: [{start_time: '18:00', end_time: '24:00'}]
            location: Europe/Berlin
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

Range = tuple[int, int]
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december"),
)
_TIME = re.compile(r"(([01][0-9])|(2[0-3])):[0-5][0-9]|24:00")


def _split(text: Any, member: Any) -> Range:
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"expected a value or a range begin:end, got {text!r}")
    parts = str(text).lower().split(":")
    if len(parts) > 2:
        raise ValueError(f"couldn't parse range {text!r}, invalid format")
    begin = member(parts[0])
    return begin, member(parts[-1])


def _number(kind: str) -> Any:
    def member(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text} is not a valid {kind}") from None

    return member


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"{text} is not a valid weekday")
    return WEEKDAYS.index(text)


def _month(text: str) -> int:
    return MONTHS.index(text) + 1 if text in MONTHS else _number("month")(text)


def weekday_range(text: Any) -> Range:
    """``monday:friday`` → ``(1, 5)`` (Sunday is 0, as in Go).

    >>> weekday_range("Monday:Friday"), weekday_range("sunday")
    ((1, 5), (0, 0))
    """
    begin, end = _split(text, _weekday)
    if begin > end:
        raise ValueError("start day cannot be before end day")
    return begin, end


def day_of_month_range(text: Any) -> Range:
    """``1:5``, ``-3:-1`` (the last three days), ``10:-1``.

    >>> day_of_month_range("-3:-1"), day_of_month_range(15)
    ((-3, -1), (15, 15))
    >>> day_of_month_range("-1:5")
    Traceback (most recent call last):
    ...
    ValueError: end day must be negative if start day is negative
    """
    begin, end = _split(text, _number("day of the month"))
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < end:
        raise ValueError("end day must be negative if start day is negative")
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"end day {end} is always before start day {begin}")
    return begin, end


def month_range(text: Any) -> Range:
    """``january:march`` or ``1:3`` → ``(1, 3)``.

    >>> month_range("december"), month_range("2:4")
    ((12, 12), (2, 4))
    """
    begin, end = _split(text, _month)
    if not (1 <= begin <= 12 and 1 <= end <= 12):
        raise ValueError(f"{text} is not a valid month: out of range")
    if begin > end:
        raise ValueError(f"end month {MONTHS[end - 1]} is before start month {MONTHS[begin - 1]}")
    return begin, end


def year_range(text: Any) -> Range:
    """``2024:2026`` → ``(2024, 2026)``."""
    begin, end = _split(text, _number("year"))
    if begin > end:
        raise ValueError(f"end year {end} is before start year {begin}")
    return begin, end


def _minutes(text: Any) -> int:
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TimeRange(BaseModel):
    """``start_time`` (included) to ``end_time`` (excluded), as minutes of the day."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start_time: Annotated[int, PlainValidator(_minutes, json_schema_input_type=str)]
    end_time: Annotated[int, PlainValidator(_minutes, json_schema_input_type=str)]

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        """Alertmanager refuses an empty or reversed range."""
        if self.start_time >= self.end_time:
            raise ValueError("start time cannot be equal or greater than end time")
        return self


def _ranges(parse: Any) -> Any:
    return tuple[Annotated[Range, PlainValidator(parse, json_schema_input_type=str | int)], ...]


class TimeInterval(BaseModel):
    """One interval of a named time interval; see the module's docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    times: tuple[TimeRange, ...] | None = None
    weekdays: _ranges(weekday_range) | None = None  # type: ignore[valid-type]
    days_of_month: _ranges(day_of_month_range) | None = None  # type: ignore[valid-type]
    months: _ranges(month_range) | None = None  # type: ignore[valid-type]
    years: _ranges(year_range) | None = None  # type: ignore[valid-type]
    location: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Berlin")

    @field_validator("location")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name not in (None, "Local", "UTC"):
            try:
                zoneinfo.ZoneInfo(str(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name}") from None
        return name


class NamedTimeInterval(BaseModel):
    """An entry of ``time_intervals:`` (or of the older ``mute_time_intervals:``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1)
    time_intervals: tuple[TimeInterval, ...] = ()


def active(interval: TimeInterval, when: datetime) -> bool:
    """Whether ``when`` (an aware time) falls in ``interval`` (Go's ``ContainsTime``).

    >>> office = TimeInterval.model_validate({"weekdays": ["monday:friday"],
    ...     "times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/Berlin"})
    >>> active(office, datetime(2026, 3, 2, 8, 30, tzinfo=UTC))  # Monday 09:30 in Berlin
    True
    >>> active(office, datetime(2026, 3, 2, 16, 0, tzinfo=UTC))  # 17:00 in Berlin: excluded
    False
    >>> active(office, datetime(2026, 3, 1, 10, 0, tzinfo=UTC))  # Sunday
    False
    >>> month_end = TimeInterval.model_validate({"days_of_month": ["-2:-1"]})
    >>> [active(month_end, datetime(2024, 2, d, tzinfo=UTC)) for d in (27, 28, 29)]
    [False, True, True]
    >>> active(TimeInterval(), datetime(2026, 1, 1, tzinfo=UTC))  # no field: always
    True
    """
    if interval.location == "Local":
        when = when.astimezone()
    else:
        when = when.astimezone(zoneinfo.ZoneInfo(interval.location or "UTC"))
    minute = when.hour * 60 + when.minute
    if interval.times is not None and not any(
        t.start_time <= minute < t.end_time for t in interval.times
    ):
        return False
    if interval.days_of_month is not None and not any(
        _in_days(when, r) for r in interval.days_of_month
    ):
        return False
    weekday = (when.weekday() + 1) % 7  # Go: Sunday is 0
    checks: Iterable[tuple[tuple[Range, ...] | None, int]] = (
        (interval.months, when.month),
        (interval.weekdays, weekday),
        (interval.years, when.year),
    )
    return all(
        ranges is None or any(b <= value <= e for b, e in ranges) for ranges, value in checks
    )


def _in_days(when: datetime, days: Range) -> bool:
    length = calendar.monthrange(when.year, when.month)[1]
    begin, end = (length + d + 1 if d < 0 else d for d in days)
    if begin > length:
        return False
    begin, end = (max(-length, min(length, d)) for d in (begin, end))
    return begin <= when.day <= end


def active_any(intervals: Iterable[TimeInterval], when: datetime) -> bool:
    """Whether any of a named interval's intervals holds at ``when``."""
    return any(active(interval, when) for interval in intervals)


def from_ms(ms: int) -> datetime:
    """An event time in milliseconds as an aware UTC time."""
    return datetime.fromtimestamp(ms / 1000, UTC)
