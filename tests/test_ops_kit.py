"""The ops kit in deploy/ against the real thing: the dashboard's and the alerting rules' metric
names against a running worker's /metrics, the rules through promtool, the exposition through
``promtool check metrics``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import REPO, TopicReader, Worker, accepted, eventually, http, unique

DEPLOY = REPO / "deploy"
DASHBOARD = json.loads((DEPLOY / "grafana" / "alertflow.json").read_text())
RULES = yaml.safe_load((DEPLOY / "alertflow-rules.yml").read_text())
PROMETHEUS_OWN = {"up"}  # written by Prometheus about each scrape, never exported by a target
GRAFANA = {"$job": "alertflow", "$__rate_interval": "5m"}  # the dashboard's variables, filled in
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (label values, labels, functions, keywords,
    numbers and durations left out).

    >>> sorted(metric_names('sum by (le) (rate(a_bucket{job=~"x"}[5m])) / on(job) b > 1e3'))
    ['a_bucket', 'b']
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expression)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+|[smhdwy]+)?\b", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        if match.group() not in _KEYWORDS and not text[match.end() :].lstrip().startswith("("):
            names.add(match.group())
    return names


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard, the Grafana variables filled in."""
    expressions = [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]
    for name, value in GRAFANA.items():
        expressions = [expression.replace(name, value) for expression in expressions]
    return expressions


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in RULES["groups"] for rule in group["rules"]]


def variable_metrics() -> set[str]:
    """Metrics the dashboard's variables read (``label_values(metric, label)``)."""
    queries = [v["query"]["query"] for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
    return {re.match(r"label_values\((\w+)", query)[1] for query in queries}  # type: ignore[index]


def test_dashboard_has_the_panels_operators_need() -> None:
    titles = " / ".join(panel["title"].lower() for panel in DASHBOARD["panels"])
    for topic in ("throughput per stage", "lag", "p99", "notifications by outcome", "precision"):
        assert topic in titles
    assert "dead letters" in titles
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


@needs_promtool
def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule: PromQL's own parser says so."""
    rules = [
        {"record": f"dashboard:expression_{n}", "expr": expression}
        for n, expression in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_alerting_rules_are_valid_and_their_unit_tests_pass() -> None:
    for command in (
        ["check", "rules", "alertflow-rules.yml"],
        ["test", "rules", "alertflow-rules.test.yml"],
    ):
        done = subprocess.run(
            ["promtool", *command], cwd=DEPLOY, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    alerts = {rule["alert"] for group in RULES["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((DEPLOY / "alertflow-rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert tested == alerts, "every rule has a unit test"


# --- against the session worker ------------------------------------------------------------


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
