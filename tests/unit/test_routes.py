"""The routing tree: matchers, nesting, continue, inheritance, validation naming the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.config import (
    DEFAULT_ROUTE,
    Config,
    ConfigError,
    from_document,
    group_key,
    load_config,
    match,
    route_for,
)
from tests.harness import REPO

CONFIG = """
routes:
  group_by: [tenant, cluster, alertname]
  group_gap: 10m
  routes:
    - name: databases
      matchers: ['team=~"db|storage"', 'env!="dev"']
      min_alerts: 2
      continue: true
      routes:
        - name: db-critical
          matchers: [severity=critical]
          group_by: [tenant, cluster]
    - name: not-web
      matchers: ['service!~"web-.*"']
      max_duration: 1h
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "alertflow.yaml"
    path.write_text(CONFIG)
    return load_config({"ALERTFLOW_CONFIG": str(path)})


def test_nested_routes_inherit_and_override(config: Config) -> None:
    (critical,) = route_for(config, {"team": "db", "severity": "critical", "service": "web-1"})
    assert critical.name == "db-critical"
    assert critical.group_by == ("tenant", "cluster")  # own
    assert critical.min_alerts == 2  # from databases
    assert critical.group_gap_ms == 600_000  # from the root


def test_continue_lands_on_every_matching_sibling(config: Config) -> None:
    names = [r.name for r in route_for(config, {"team": "storage", "service": "api"})]
    assert names == ["databases", "not-web"]
    assert route_for(config, {"team": "storage", "service": "api"})[1].max_duration_ms == 3_600_000


def test_negative_matchers_and_fallback_to_root(config: Config) -> None:
    labels = {"team": "db", "env": "dev", "service": "web-2"}
    assert [r.name for r in route_for(config, labels)] == ["root"]
    assert [r.name for r in route_for(config, {"service": "web-2"})] == ["root"]


def test_group_key_uses_the_routes_labels_and_all_labels() -> None:
    labels = {"tenant": "t", "cluster": "eu", "alertname": "Down", "pod": "p1"}
    by_cluster = from_document({"routes": {"group_by": ["tenant", "cluster"]}}).route
    assert group_key(by_cluster, labels) == "tenant=t,cluster=eu"
    assert "pod=p1" in group_key(from_document({"routes": {"group_by": ["..."]}}).route, labels)


def test_no_file_or_no_routes_key_is_the_default(tmp_path: Path) -> None:
    assert load_config({}).route == DEFAULT_ROUTE
    path = tmp_path / "c.yaml"
    path.write_text("http_port: 7000\n")
    assert load_config({"ALERTFLOW_CONFIG": str(path)}).route == DEFAULT_ROUTE


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"routes": [{"matchers": ["team"]}]}, "routes.routes[0].matchers[0]: bad matcher format"),
        ({"routes": [{"routes": [{"group_gap": "soon"}]}]}, "routes.routes[0].routes[0].group_gap"),
        ({"routes": [{"min_alerts": 0}]}, "routes.routes[0].min_alerts: expected a whole number"),
        ({"routes": [{"recievers": []}]}, "routes.routes[0].recievers: unknown key"),
        ({"matchers": ["a=b"]}, "routes.matchers: the root route must not have any matchers"),
        ({"routes": [{"continue": "yes"}]}, "routes.routes[0].continue: Input should be a valid"),
        ({"group_gap": "2h", "max_duration": "1h"}, "routes.max_duration: shorter than group_gap"),
        ({"routes": {"a": 1}}, "routes.routes: Input should be a valid list"),
        (
            {"routes": [{"notify_threshold": 1.5}]},
            "routes.routes[0].notify_threshold: expected a number from 0 to 1, got 1.5",
        ),
        ({"digest_threshold": "low"}, "routes.digest_threshold: expected a number from 0 to 1"),
        (
            {"notify_threshold": 0.3, "routes": [{"routes": [{"digest_threshold": 0.4}]}]},
            "routes.routes[0].routes[0].digest_threshold: digest_threshold 0.4 is above "
            "notify_threshold 0.3",
        ),
        ({"routes": [{"group_by": ["...", "a"]}]}, "routes.routes[0].group_by: '...' cannot"),
        ({"routes": [{"receiver": "ghost"}]}, "routes.routes[0].receiver: no receiver named"),
    ],
)
def test_invalid_configuration_names_the_path(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_document({"routes": spec})
    assert message in str(error.value)


def test_every_error_is_reported_in_one_run() -> None:
    spec = {
        "routes": [
            {"matchers": ['severity=~"critical|warning']},
            {"min_alerts": 0, "receiver": "ghost"},
            {"escalation": "nope"},
        ]
    }
    with pytest.raises(ConfigError) as error:
        from_document({"routes": spec, "receivers": [{"name": "x", "type": "sms"}]})
    paths = [e.split(": ")[0] for e in error.value.errors]
    assert paths == [
        "routes.routes[0].matchers[0]",
        "routes.routes[1].min_alerts",
        "receivers[0].type",
        "routes.routes[1].receiver",
        "routes.routes[2].escalation",
    ]


def test_worker_refuses_invalid_routes_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("routes:\n  routes:\n    - matchers: ['sev=~(']\n")
    code = (
        "import sys; from app.cli import main; sys.argv=['alertflow','worker']; "
        "import app.kafka_admin as b; b.wait_for_broker=lambda *a, **k: None; "
        "import app.cli as c; c._create_topics=lambda *a: None; sys.exit(main())"
    )
    env = {"ALERTFLOW_CONFIG": str(path), "ALERTFLOW_DATA_DIR": str(tmp_path), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "routes.routes[0].matchers[0]: error parsing regexp" in done.stderr


def test_score_thresholds_are_inherited_and_overridden() -> None:
    tree = from_document(
        {
            "routes": {
                "notify_threshold": 0.5,
                "routes": [
                    {"name": "db", "matchers": ["team=db"], "digest_threshold": 0.2},
                    {"name": "web", "matchers": ["team=web"], "notify_threshold": 0.8},
                ],
            }
        }
    ).route
    (db,) = match(tree, {"team": "db"})
    (web,) = match(tree, {"team": "web"})
    (other,) = match(tree, {"team": "x"})
    assert (db.notify_threshold, db.digest_threshold) == (0.5, 0.2)
    assert (web.notify_threshold, web.digest_threshold) == (0.8, None)
    assert (other.notify_threshold, other.digest_threshold) == (0.5, None)
    assert DEFAULT_ROUTE.notify_threshold is None


def test_check_config_names_a_bad_threshold(tmp_path: Path) -> None:
    path = tmp_path / "alertflow.yaml"
    path.write_text("routes:\n  routes:\n    - matchers: [team=db]\n      notify_threshold: 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTFLOW_")}
    command = [str(REPO / ".venv" / "bin" / "alertflow"), "check-config", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "routes.routes[0].notify_threshold: expected a number from 0 to 1" in done.stderr
    path.write_text("routes:\n  routes:\n    - matchers: [team=db]\n      notify_threshold: 0.9\n")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
