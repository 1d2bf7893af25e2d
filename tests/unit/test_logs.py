"""Log output: JSON lines with context, demoted start-up noise, rate-limited repeats — unit
tests of :mod:`app.logs`. The session worker's own log is checked in ``tests/flow/test_logs.py``."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from app import logs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def output() -> Iterator[tuple[logging.Logger, io.StringIO, Clock]]:
    """A logger of its own writing JSON through :class:`logs.Output` into a buffer."""
    stream, clock = io.StringIO(), Clock()
    handler = logs.Output("json", "info", stream=stream, limit=3, interval=60.0, clock=clock)
    logger = logging.getLogger(f"test.{uuid.uuid4().hex}")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    yield logger, stream, clock
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_time_level_logger_message_and_context(output: tuple) -> None:
    logger, stream, _ = output
    with logs.context(stage="dedup", tenant="acme"):
        logger.warning("held %d", 3, extra={"alert_id": "a1"})
    logger.info("outside")
    first, second = lines(stream)
    assert first["level"] == "warning" and first["logger"] == logger.name
    assert first["message"] == "held 3" and first["time"].endswith("+00:00")
    assert (first["stage"], first["tenant"], first["alert_id"]) == ("dedup", "acme", "a1")
    assert "stage" not in second


def test_exception_is_one_json_line(output: tuple) -> None:
    logger, stream, _ = output
    try:
        raise ValueError("bad record")
    except ValueError:
        logger.exception("failed")
    [line] = lines(stream)
    assert line["level"] == "error" and "ValueError: bad record" in line["exception"]


def test_text_format_appends_the_context() -> None:
    stream = io.StringIO()
    logger = logging.getLogger(f"test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(logs.Output("text", "info", stream=stream))
    logger.error("boom", extra={"stage": "notify", "incident_id": "i7"})
    assert (
        stream.getvalue()
        .rstrip()
        .endswith("ERROR " + logger.name + ": boom [stage=notify incident_id=i7]")
    )


def test_repeats_beyond_the_limit_are_summarised(output: tuple) -> None:
    logger, stream, clock = output
    for attempt in range(10):
        logger.error("delivery to %s failed", f"receiver-{attempt}")
    logger.error("another message")  # another template: not limited by the first
    assert [line["message"] for line in lines(stream)] == [
        "delivery to receiver-0 failed",
        "delivery to receiver-1 failed",
        "delivery to receiver-2 failed",
        "another message",
    ]
    clock.now += 61
    logger.error("delivery to %s failed", "receiver-10")
    summary, again = lines(stream)[-2:]
    assert summary["message"] == "suppressed 7 similar in 60 s: delivery to %s failed"
    assert summary["level"] == "error" and summary["logger"] == logger.name
    assert again["message"] == "delivery to receiver-10 failed"


def test_messages_formatted_before_logging_are_limited_as_one(output: tuple) -> None:
    logger, stream, _ = output
    for size in range(1000, 1010):  # what Faust logs: f"producer buffer full size {size}"
        logger.warning(f"producer buffer full size {size}")
    assert len(lines(stream)) == 3


def test_info_is_never_rate_limited(output: tuple) -> None:
    logger, stream, _ = output
    for _ in range(10):
        logger.info("tick")
    assert len(lines(stream)) == 10


def test_expected_startup_noise_is_demoted_until_ready() -> None:
    stream = io.StringIO()
    handler = logs.Output("json", "info", stream=stream)
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")

    def emit(logger: logging.Logger, level: int, message: str) -> None:
        handler.handle(logger.makeRecord(logger.name, level, "f", 1, message, None, None))

    noise = "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"
    emit(coordinator, logging.ERROR, noise)
    emit(logging.getLogger("mode.services"), logging.INFO, "[^--Producer]: Starting...")
    emit(logging.getLogger("faust.worker"), logging.INFO, "[^Worker]: Ready")
    emit(logging.getLogger("faust.worker"), logging.WARNING, "[^--Consumer]: lagging")
    emit(coordinator, logging.ERROR, noise)  # after start-up the same error is an error
    assert [(line["level"], line["message"]) for line in lines(stream)] == [
        ("info", "[^Worker]: Ready"),
        ("warning", "[^--Consumer]: lagging"),
        ("error", noise),
    ]


def test_clients_mistakes_that_aiohttp_logs_as_errors_are_demoted() -> None:
    from aiohttp.http_exceptions import LineTooLong
    from aiohttp.web_protocol import RequestPayloadError

    stream = io.StringIO()
    handler = logs.Output("json", "info", stream=stream)
    server = logging.getLogger("aiohttp.server")

    def emit(logger: logging.Logger, message: str, error: BaseException) -> None:
        exc_info = (type(error), error, None)
        handler.handle(
            logger.makeRecord(logger.name, logging.ERROR, "f", 1, message, None, exc_info)
        )

    emit(
        server, "Unhandled exception", RequestPayloadError("Can not decode content-encoding: zstd")
    )
    emit(server, "Error handling request from 127.0.0.1", LineTooLong("a header line"))
    emit(server, "Error handling request from 127.0.0.1", ConnectionResetError("Connection lost"))
    emit(server, "Unhandled exception", ValueError("a bug of ours"))  # stays an error
    emit(server, "Error handling request", ConnectionResetError("reset by a worker we called"))
    emit(logging.getLogger("app.web"), "a failure", RequestPayloadError("not aiohttp's own"))
    assert [(line["level"], line["message"]) for line in lines(stream)] == [
        ("error", "Unhandled exception"),
        ("error", "Error handling request"),
        ("error", "a failure"),
    ]
