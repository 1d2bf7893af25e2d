"""The ops kit in deploy/ against the session worker: the dashboard's and the alerting rules'
metric names against its /metrics, the exposition through ``promtool check metrics``. The kit's
files on their own are checked in ``tests/unit/test_ops_kit.py``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import TopicReader, Worker, accepted, eventually, http, unique
from tests.unit.test_ops_kit import (
    PROMETHEUS_OWN,
    dashboard_expressions,
    metric_names,
    needs_promtool,
    rule_expressions,
    variable_metrics,
)


def scrape(worker: Worker) -> str:
    answer = http("GET", f"{worker.url}/metrics", token=None)
    assert answer.status == 200
    return answer.body.decode() if isinstance(answer.body, bytes) else str(answer.body)


def sample_names(exposition: str) -> set[str]:
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def busy_worker(worker: Worker, enriched: TopicReader) -> Iterator[Worker]:
    """The session worker after one alert went through everything the dashboard shows: it was
    received, enriched, notified, repeated (a suppression) and acknowledged (the model learns)."""
    tenant = unique("opskit")
    alert = {"title": "ops kit probe", "severity": "critical", "labels": {"alertname": "OpsKit"}}
    (alert_id,) = accepted(worker, f"/api/v1/alerts?tenant={tenant}", [alert])
    enriched.wait(lambda key, _: key == alert_id, timeout=60)
    accepted(worker, f"/api/v1/alerts?tenant={tenant}", [alert])
    url = f"{worker.url}/api/v1/alerts/{alert_id}"
    eventually(lambda: http("GET", url).status == 200, 30, f"GET {url}")
    assert http("POST", f"{url}/acknowledge", {"by": "opskit"}).status == 202
    yield worker


def test_dashboard_and_rules_read_only_metrics_the_worker_exports(busy_worker: Worker) -> None:
    wanted = set().union(*map(metric_names, dashboard_expressions() + rule_expressions()))
    wanted |= variable_metrics()
    assert wanted > {"alertflow_consumer_lag", "alertflow_model_precision"}  # the parser works
    deadline = time.monotonic() + 90  # the notification and the model's update take a while
    while (absent := wanted - PROMETHEUS_OWN - sample_names(scrape(busy_worker))) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    assert not absent, f"never exported: {sorted(absent)}"


@needs_promtool
def test_promtool_accepts_the_exposition(busy_worker: Worker) -> None:
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=scrape(busy_worker),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_one_prefix_and_no_created_series(busy_worker: Worker) -> None:
    families = list(text_string_to_metric_families(scrape(busy_worker)))
    ours = [f.name for f in families if not f.name.startswith(("process_", "python_"))]
    assert ours and all(name.startswith("alertflow_") for name in ours), ours
    assert not [s.name for f in families for s in f.samples if s.name.endswith("_created")]
    names = sample_names(scrape(busy_worker))
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names


def test_consumer_lag_is_exported_per_topic_and_partition(busy_worker: Worker) -> None:
    families = {f.name: f for f in text_string_to_metric_families(scrape(busy_worker))}
    samples: list[Any] = families["alertflow_consumer_lag"].samples
    topics = {sample.labels["topic"] for sample in samples}
    assert {"alerts.normalized", "alerts.feedback"} <= topics
    assert not [t for t in topics if t.endswith("-changelog")], "tables are not consumer lag"
    assert all(sample.value >= 0 and sample.labels["partition"].isdigit() for sample in samples)
