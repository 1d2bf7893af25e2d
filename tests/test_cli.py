"""The console commands ops teams use: ``tail``, ``templates``, and configuration errors."""

from __future__ import annotations

import json
import os
import subprocess
import threading

from tests.harness import REPO, TopicReader, Worker, eventually, http, unique

ALERTFLOW = str(REPO / ".venv" / "bin" / "alertflow")


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


def test_templates_reads_stdin_and_writes_id_and_template() -> None:
    lines = [
        "Connection to 10.0.0.1:5432 timed out after 30s",
        "Connection to 10.0.0.7:5432 timed out after 12s",
        "User alice logged in",
    ]
    done = subprocess.run(
        [ALERTFLOW, "templates"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(rows) == 3 and all(len(row) == 2 for row in rows)
    assert rows[0][0] == rows[1][0], "same shape, same template id"
    assert rows[2][0] != rows[0][0]
    assert "10.0.0.7" not in rows[1][1]


def test_bad_configuration_exits_2_with_the_key_named() -> None:
    done = subprocess.run(
        [ALERTFLOW, "templates"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ALERTFLOW_HTTP_PORT": "99999"},
    )
    assert done.returncode == 2 and "ALERTFLOW_HTTP_PORT" in done.stderr
