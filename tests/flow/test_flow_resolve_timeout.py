"""Alerts posted to ``/api/v1/alerts`` that are never resolved, on the real broker: dedup
resolves an episode not sent again within the API's ``resolve_timeout`` — when the next message
comes, or on its partition's ticks when none does — and a later message is a new episode
(read on ``alerts.deduped``, dedup's output).

The module restarts the session worker with a 2-second timeout and 1-second ticks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.flow.test_flow_triage import Records
from tests.harness import TopicReader, Worker, accepted, unique


@pytest.fixture(scope="module")
def short_timeout(worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session worker, restarted with a resolve timeout of 2 seconds for the API."""
    path = tmp_path_factory.mktemp("timeout") / "alertflow.yaml"
    config = {"dedup": {"api": {"resolve_timeout": "2s"}}, "notify": {"tick_interval": "1s"}}
    path.write_text(yaml.safe_dump(config))
    worker.stop()
    worker.env["ALERTFLOW_CONFIG"] = str(path)
    worker.start()
    yield path
    worker.stop()
    del worker.env["ALERTFLOW_CONFIG"]
    worker.start()


@pytest.fixture(scope="module")
def deduped(bootstrap: str, worker: Worker) -> Iterator[Records]:
    reader = TopicReader(bootstrap, "alerts.deduped")
    yield Records(reader)
    reader.close()


def test_an_alert_never_resolved_times_out_and_comes_back_as_a_new_episode(
    short_timeout: Path, worker: Worker, deduped: Records
) -> None:
    tenant = unique("timeout")
    scan = {"title": "IDS: port scan of vpn", "labels": {"host": "vpn", "rule": "S-Nmp"}}
    web = {"title": "IDS: web server 400 burst", "labels": {"host": "intranet", "rule": "W-400"}}
    (scan_id,) = accepted(worker, f"/api/v1/alerts?tenant={tenant}", scan)
    (first_id,) = accepted(worker, f"/api/v1/alerts?tenant={tenant}", web)
    deduped.wait(lambda key, value: value.get("id") in (scan_id, first_id), count=2)
    time.sleep(3)  # past the timeout: the next message of the web alert is a new episode
    (second_id,) = accepted(worker, f"/api/v1/alerts?tenant={tenant}", web)
    assert second_id != first_id
    (_, ended), *_ = deduped.wait(
        lambda key, value: value.get("id") == first_id and value["status"] == "resolved"
    )
    assert any("resolve_timeout" in reason for reason in ended["reasons"])
    (_, again), *_ = deduped.wait(lambda key, value: value.get("id") == second_id)
    assert again["status"] == "firing" and again["fingerprint"] == ended["fingerprint"]
    assert (
        "sent again after it was resolved for want of messages: a new episode" in (again["reasons"])
    )
    # no message of the scan ever comes again: the ticks move dedup's clock past its minute
    (_, swept), *_ = deduped.wait(
        lambda key, value: value.get("id") == scan_id and value["status"] == "resolved",
        timeout=150,
    )
    assert swept["ends_at"] is not None and any(
        "resolve_timeout" in reason for reason in swept["reasons"]
    )
