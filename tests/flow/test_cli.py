"""The console commands against the session broker and worker: ``tail`` prints the records,
names an unknown topic; ``worker`` reports a busy HTTP port. The rest, which need no broker, are
in ``tests/unit/test_cli.py``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import TopicReader, Worker, eventually, http, unique
from tests.unit.test_cli import ALERTFLOW, alertflow


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_tail_prints_one_json_record_per_line(
    worker: Worker,
    bootstrap: str,
    enriched: TopicReader,
) -> None:
    (alert_id,) = http("POST", f"{worker.url}/api/v1/alerts", {"title": unique("tail")}).body["ids"]
    enriched.wait(lambda key, value: key == alert_id)
    tail = subprocess.Popen(
        [ALERTFLOW, "tail", "--topic", "alerts.enriched", "--from-beginning"],
        env={**os.environ, "KAFKA_BOOTSTRAP": bootstrap},
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[dict] = []
    reader = threading.Thread(
        target=lambda: [lines.append(json.loads(line)) for line in tail.stdout], daemon=True
    )
    reader.start()
    try:
        eventually(lambda: any(record["id"] == alert_id for record in lines), 60, "tail output")
    finally:
        tail.terminate()
        tail.wait(10)


def test_a_busy_http_port_is_one_line_and_exit_2(
    bootstrap: str, taken_port: int, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP": bootstrap,
        "ALERTFLOW_HTTP_PORT": str(taken_port),
        "ALERTFLOW_DATA_DIR": str(tmp_path),
    }
    done = alertflow("worker", env=env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f":{taken_port} is already in use: set ALERTFLOW_HTTP_PORT" in line


def test_tail_of_an_unknown_topic_is_one_line_and_exit_1(bootstrap: str) -> None:
    done = alertflow("tail", "--topic", "alerts.enrichd", env={"KAFKA_BOOTSTRAP": bootstrap})
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "no topic 'alerts.enrichd'" in line and "alerts.enriched" in line
