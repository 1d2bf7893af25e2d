"""Value types of the configuration file: each validates one kind of value and says why not.

Used in the pydantic models of :mod:`app.config.spec` and :mod:`app.config.receivers`; the JSON
schema shows each as what a person writes (a string, a number).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import AfterValidator, Field, PlainValidator, StrictBool

from app.config.durations import duration_ms
from app.matchers import LABEL_NAME, Matcher, MatcherError, parse_matchers, regex


def _duration(value: Any) -> int:
    return duration_ms(value)


def _duration_or_zero(value: Any) -> int:
    return duration_ms(value, zero=True)


def _matchers(value: Any) -> tuple[Matcher, ...]:
    if not isinstance(value, str):
        raise ValueError(
            f"expected a matcher string such as 'severity=\"critical\"', got {value!r}"
        )
    try:
        return tuple(parse_matchers(value))
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


def _label_name(value: str) -> str:
    if not LABEL_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid label name")
    return value


def _regex(value: str) -> str:
    try:
        regex(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None
    return value


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"expected a number from 0 to 1, got {value!r}")
    return float(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number ≥ 1, got {value!r}")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return float(value)


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


_DURATION_INPUT = str | int | float
Duration = Annotated[int, PlainValidator(_duration, json_schema_input_type=_DURATION_INPUT)]
"""A positive duration (``30s``, ``5m``, ``1h30m``, or seconds), in milliseconds."""
DurationOrZero = Annotated[
    int, PlainValidator(_duration_or_zero, json_schema_input_type=_DURATION_INPUT)
]
"""A duration that may be zero (``0s``), in milliseconds."""
Matchers = Annotated[tuple[Matcher, ...], PlainValidator(_matchers, json_schema_input_type=str)]
"""One matcher string of Alertmanager's syntax (which may hold several: ``{a="b", c=~"d"}``)."""
LabelName = Annotated[str, AfterValidator(_label_name)]
Regex = Annotated[str, AfterValidator(_regex)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Flag = StrictBool
Fraction = Annotated[
    float, PlainValidator(_fraction, json_schema_input_type=Annotated[float, Field(ge=0, le=1)])
]
PositiveInt = Annotated[
    int, PlainValidator(_positive_int, json_schema_input_type=Annotated[int, Field(ge=1)])
]
Seconds = Annotated[
    float, PlainValidator(_seconds, json_schema_input_type=Annotated[float, Field(gt=0)])
]
