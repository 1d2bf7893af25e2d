"""Log output of the session worker, which logs JSON (``ALERTFLOW_LOG_FORMAT=json`` in
``tests/flow/conftest.py``): a quiet start and dead letters logged with their stage. The
formatting, demotion and rate limits themselves are unit-tested in ``tests/unit/test_logs.py``."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Producer

from tests.harness import TopicReader, Worker, eventually


def worker_lines(worker: Worker) -> list[dict[str, str]]:
    text = worker.log.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_worker_logs_json_and_starts_quietly(worker: Worker) -> None:
    records = worker_lines(worker)  # json.loads fails on any line that is not one object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    ready = next(i for i, r in enumerate(records) if r["message"].endswith("Ready"))
    startup = records[: ready + 1]
    assert len(startup) <= 10, [r["message"] for r in startup]  # was 365 lines of text
    assert not [r for r in startup if r["level"] in ("warning", "error", "critical")]


def test_a_dead_letter_is_logged_with_its_stage(
    worker: Worker, bootstrap: str, deadletters: TopicReader
) -> None:
    marker = uuid.uuid4().hex
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(
        "alerts.feedback", key=marker.encode(), value=b'{"alert_id": "' + marker.encode()
    )
    assert producer.flush(15) == 0
    deadletters.wait(lambda key, _: key == marker, timeout=60)
    logged = eventually(
        lambda: [r for r in worker_lines(worker) if "sent to alerts.deadletter" in r["message"]],
        30,
        "the dead letter's log line",
    )
    assert logged[-1]["level"] == "error" and logged[-1]["stage"] == "incident_feedback"
    assert "Traceback" in logged[-1]["exception"]
