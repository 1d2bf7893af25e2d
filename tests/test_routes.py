"""The routing tree: matchers, nesting, continue, inheritance, validation naming the path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.routes import DEFAULT_ROUTE, RouteError, group_key, load_routes, match, parse_route
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
def tree(tmp_path: Path):
    path = tmp_path / "alertflow.yaml"
    path.write_text(CONFIG)
    return load_routes(path)


def test_nested_routes_inherit_and_override(tree) -> None:
    (critical,) = match(tree, {"team": "db", "severity": "critical", "service": "web-1"})
    assert critical.name == "db-critical"
    assert critical.group_by == ("tenant", "cluster")  # own
    assert critical.min_alerts == 2  # from databases
    assert critical.group_gap_ms == 600_000  # from the root


def test_continue_lands_on_every_matching_sibling(tree) -> None:
    names = [r.name for r in match(tree, {"team": "storage", "service": "api"})]
    assert names == ["databases", "not-web"]
    assert match(tree, {"team": "storage", "service": "api"})[1].max_duration_ms == 3_600_000


def test_negative_matchers_and_fallback_to_root(tree) -> None:
    assert [r.name for r in match(tree, {"team": "db", "env": "dev", "service": "web-2"})] == [
        "root"
    ]
    assert [r.name for r in match(tree, {"service": "web-2"})] == ["root"]


def test_group_key_uses_the_routes_labels_and_all_labels() -> None:
    labels = {"tenant": "t", "cluster": "eu", "alertname": "Down", "pod": "p1"}
    assert group_key(parse_route({"group_by": ["tenant", "cluster"]}), labels) == (
        "tenant=t,cluster=eu"
    )
    assert "pod=p1" in group_key(parse_route({"group_by": ["..."]}), labels)


def test_no_file_or_no_routes_key_is_the_default(tmp_path: Path) -> None:
    assert load_routes(None) == DEFAULT_ROUTE
    path = tmp_path / "c.yaml"
    path.write_text("http_port: 7000\n")
    assert load_routes(path) == DEFAULT_ROUTE


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"routes": [{"matchers": ["team"]}]}, "routes.routes[0].matchers[0]: expected name=value"),
        ({"routes": [{"routes": [{"group_gap": "soon"}]}]}, "routes.routes[0].routes[0].group_gap"),
        ({"routes": [{"min_alerts": 0}]}, "routes.routes[0].min_alerts: expected a whole number"),
        ({"routes": [{"recievers": []}]}, "routes.routes[0]: unknown key 'recievers'"),
        ({"matchers": ["a=b"]}, "routes.matchers: the root route matches every alert"),
        ({"routes": [{"continue": "yes"}]}, "routes.routes[0].continue: expected true or false"),
        ({"group_gap": "2h", "max_duration": "1h"}, "routes.max_duration: shorter than group_gap"),
        ({"routes": {"a": 1}}, "routes.routes: expected a list"),
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
    ],
)
def test_invalid_configuration_names_the_path(spec: dict, message: str) -> None:
    with pytest.raises(RouteError) as error:
        parse_route(spec)
    assert message in str(error.value)


def test_worker_refuses_invalid_routes_with_exit_code_2(tmp_path: Path) -> None:
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text("routes:\n  routes:\n    - matchers: ['sev=~(']\n")
    code = (
        "import sys; from app.cli import main; sys.argv=['alertflow','worker']; "
        "import app.broker as b; b.wait_for_broker=lambda *a, **k: None; "
        "import app.cli as c; c._create_topics=lambda *a: None; sys.exit(main())"
    )
    env = {"ALERTFLOW_CONFIG": str(path), "ALERTFLOW_DATA_DIR": str(tmp_path), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "routes.routes[0].matchers[0]: invalid regular expression" in done.stderr


def test_score_thresholds_are_inherited_and_overridden() -> None:
    tree = parse_route(
        {
            "notify_threshold": 0.5,
            "routes": [
                {"name": "db", "matchers": ["team=db"], "digest_threshold": 0.2},
                {"name": "web", "matchers": ["team=web"], "notify_threshold": 0.8},
            ],
        }
    )
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
    assert done.returncode == 1
    assert "routes.routes[0].notify_threshold: expected a number from 0 to 1" in done.stderr
    path.write_text("routes:\n  routes:\n    - matchers: [team=db]\n      notify_threshold: 0.9\n")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
