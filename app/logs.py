"""Log lines of every command: text or JSON (``ALERTFLOW_LOG_FORMAT``), with the pipeline's
context (stage, tenant, alert and incident id); expected start-up chatter demoted to debug;
the same warning repeated more than ``limit`` times an ``interval`` summarised in one line.

Stages set their context once with :func:`bind` (a context variable, so per asyncio task) or
per record with ``log.warning(..., extra=record_fields(value))``.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

import orjson

CONTEXT_FIELDS = ("stage", "tenant", "alert_id", "incident_id")
_NONE: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("log_context", default=_NONE)


def bind(**fields: str) -> None:
    """Add ``fields`` to the context of every later record of this task (or thread)."""
    _context.set({**_context.get(), **fields})


@contextmanager
def context(**fields: str) -> Iterator[None]:
    """Add ``fields`` to the records logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def record_fields(value: Any) -> dict[str, str]:
    """The context fields an alert, incident or feedback record carries.

    >>> record_fields({"id": "a1", "tenant": "acme", "incident_id": "i9", "title": "x"})
    {'tenant': 'acme', 'alert_id': 'a1', 'incident_id': 'i9'}
    >>> record_fields(b"not a record")
    {}
    """
    if not isinstance(value, Mapping):
        return {}
    found = {"tenant": value.get("tenant"), "alert_id": value.get("alert_id", value.get("id"))}
    found["incident_id"] = value.get("incident_id")
    return {key: str(item) for key, item in found.items() if isinstance(item, str | int)}


def _fields(record: logging.LogRecord) -> dict[str, str]:
    """Context of a record: its own ``extra`` wins over the bound context."""
    bound = _context.get()
    fields = {name: getattr(record, name, None) or bound.get(name) for name in CONTEXT_FIELDS}
    return {name: str(value) for name, value in fields.items() if value}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage().rstrip(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [stage=… tenant=…]``, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record).rstrip()
        fields = _fields(record)
        return text + (" [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]") * bool(fields)


@dataclass(frozen=True)
class Demotion:
    """Records of loggers under ``logger``, at ``upto`` or below, whose message matches
    ``pattern`` (and, given the module-qualified name of an ``exception`` class, that carry one
    of that class or a subclass, its text matching ``saying``) become ``level``; ``startup``
    ones only until the worker is ready."""

    logger: str
    pattern: str
    upto: int = logging.ERROR
    level: int = logging.DEBUG
    startup: bool = False
    exception: str = ""
    saying: str = ""

    def applies(self, record: logging.LogRecord, starting: bool) -> bool:
        """Whether this demotion applies to ``record``."""
        return (
            record.levelno <= self.upto
            and record.name.startswith(self.logger)
            and (starting or not self.startup)
            and (not self.exception or self._carried(record))
            and re.search(self.pattern, record.getMessage()) is not None
        )

    def _carried(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return (
            self.exception in _exception_classes(error)
            and re.search(self.saying, str(error)) is not None
        )


def _exception_classes(error: BaseException | None) -> set[str]:
    """The module-qualified names of the class of ``error`` and of its bases (none for
    ``None``)."""
    mro = type(error).__mro__ if error is not None else ()
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in mro}


_MILESTONES = r"\[\^Worker\]: (Ready|Stopping|Signal received)|Joined group|Worker ready"
DEMOTIONS = (
    # A fresh consumer group has no coordinator for a moment: aiokafka says so at ERROR.
    Demotion("aiokafka", r"GroupCoordinatorNotAvailable", startup=True),
    Demotion("aiokafka", r"Marking the coordinator dead", startup=True),
    # Faust creates the changelog topics as it starts; until metadata has them aiokafka errs.
    Demotion("aiokafka.cluster", r"not found in cluster metadata", startup=True),
    # Faust, mode and aiokafka narrate every service start, topic, partition and recovery
    # table at INFO; only the milestones stay.
    *(
        Demotion(name, rf"^(?!.*({_MILESTONES}))", logging.INFO)
        for name in ("faust", "mode", "aiokafka")
    ),
    # ... and so do the services of our own tables.
    Demotion("", r"^\[\^-*[^\]]*\]: (Starting|Stopping)\.\.\.", logging.INFO),
    # Clients' mistakes, answered 400, that aiohttp also logs as errors with a traceback: a
    # request it cannot parse, and a body that does not decode as its Content-Encoding says
    # (answered invalid_encoding; aiohttp then reads on and meets the same error).
    Demotion("aiohttp.server", "", exception="aiohttp.http_exceptions.BadHttpMessage"),
    Demotion("aiohttp.server", "", exception="aiohttp.web_protocol.RequestPayloadError"),
    # A client gone before its body was read (a timeout, a kill): aiohttp fails the read with
    # its own "Connection lost" and logs the handler's 500 that nobody receives.
    Demotion(
        "aiohttp.server", "", exception="builtins.ConnectionResetError", saying="^Connection lost$"
    ),
)
_DIGITS = re.compile(r"[0-9]+")
_READY = re.compile(r"\[\^Worker\]: Ready|Worker ready")


class Output(logging.StreamHandler):  # type: ignore[type-arg]
    """The one log handler: demotes expected noise, rate-limits repeats, formats.

    At most ``limit`` records of one logger, level and message template (WARNING and up; digits
    do not count, as some libraries format before logging: "producer buffer full size 1295") are
    written per ``interval`` seconds; the rest are counted and reported in one line
    (``suppressed K similar: …``) when the interval is over.
    """

    def __init__(
        self,
        format: str = "text",
        threshold: str | int = "info",
        stream: IO[str] | None = None,
        limit: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream or sys.stderr)
        self.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
        self.threshold = (
            logging.getLevelName(threshold.upper()) if isinstance(threshold, str) else threshold
        )
        self.limit, self.interval, self.clock = limit, interval, clock
        self.starting = True
        self._windows: dict[tuple[str, int, str], list[Any]] = {}  # key → [start, count, skipped]
        self._swept = clock()

    def handle(self, record: logging.LogRecord) -> bool:
        for demotion in DEMOTIONS:
            if demotion.applies(record, self.starting):
                record.levelno = min(record.levelno, demotion.level)
                record.levelname = logging.getLevelName(record.levelno)
                break
        if self.starting and _READY.search(record.getMessage()):
            self.starting = False
        if record.levelno < self.threshold:
            return False
        with self.lock:  # type: ignore[union-attr]
            summaries = self._sweep()
            admitted = record.levelno < logging.WARNING or self._admit(record)
        for summary in summaries:
            super().handle(summary)
        return bool(admitted and super().handle(record))

    def _admit(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg)))
        window = self._windows.setdefault(key, [now, 0, 0])
        window[1] += 1
        if window[1] <= self.limit:
            return True
        window[2] += 1
        return False

    def _sweep(self) -> list[logging.LogRecord]:
        """Close the windows that are over: a summary for each that skipped records."""
        now = self.clock()
        if now - self._swept < min(self.interval, 1.0):
            return []
        self._swept = now
        summaries = []
        for key, (start, _, skipped) in list(self._windows.items()):
            if now - start >= self.interval:
                del self._windows[key]
                if skipped:
                    summaries.append(self._summary(key, skipped))
        return summaries

    def _summary(self, key: tuple[str, int, str], skipped: int) -> logging.LogRecord:
        name, level, template = key
        message = f"suppressed {skipped} similar in {self.interval:.0f} s: {template}"
        return logging.makeLogRecord(
            {"name": name, "levelno": level, "levelname": logging.getLevelName(level),
             "msg": message, "args": None}
        )  # fmt: skip

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            summaries = [
                self._summary(key, skipped)
                for key, (*_, skipped) in self._windows.items()
                if skipped
            ]
            self._windows.clear()
        for summary in summaries:
            super().handle(summary)
        super().close()


def logging_config(format: str = "text", level: str = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of every command (the worker hands it to Faust)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"output": {"()": Output, "format": format, "threshold": level}},
        "root": {"level": level.upper(), "handlers": ["output"]},
    }


def configure(format: str = "text", level: str = "info") -> None:
    """Send every log record of this process through :class:`Output`."""
    logging.config.dictConfig(logging_config(format, level))
