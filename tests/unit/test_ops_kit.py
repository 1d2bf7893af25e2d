"""The ops kit in deploy/ on its own: the dashboard's panels, its expressions and the alerting
rules through promtool, and the rules' unit tests. ``tests/flow/test_ops_kit.py`` checks their
metric names against a running worker's /metrics, and the exposition with promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO

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
