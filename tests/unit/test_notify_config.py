"""The notification configuration: one snapshot, reloads that keep the last good, check-config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, Reloader, from_document
from tests.harness import REPO

GOOD = {
    "receivers": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    "routes": {
        "receiver": "ops",
        "group_wait": "0s",
        "routes": [{"matchers": ['service="db"'], "escalation": "db", "repeat_interval": "4h"}],
    },
    "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["a=b"]}],
    "escalation_policies": [{"name": "db", "levels": [{"after": "15m", "receivers": ["ops"]}]}],
    "notify": {"tick_interval": "5s", "resend_after": "1m"},
}


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTFLOW_")}
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "alertflow"), "check-config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_check_config_accepts_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "alertflow.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    done = _check(path)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "receivers: ops" in done.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"routes": {"receiver": "nobody"}}, "no receiver named 'nobody'"),
        ({"routes": {"receiver": "ops", "escalation": "x"}}, "no escalation policy 'x'"),
        ({"routes": {"receiver": "ops", "group_interval": "soon"}}, "routes.group_interval"),
        ({"inhibit_rules": [{"source_matchers": ["a="]}], "foo": 1}, "foo: unknown key"),
        ({"inhibit_rules": [{"equal": ["9"]}]}, "inhibit_rules[0].equal[0]"),
        ({"notify": {"max_in_flight": 0}}, "notify.max_in_flight"),
        ({"receivers": [{"name": "ops", "type": "carrier-pigeon"}]}, "receivers[0].type"),
        ({"http_port": "seventy"}, "ALERTFLOW_HTTP_PORT"),
    ],
)
def test_check_config_names_what_is_wrong(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "alertflow.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **change}))
    done = _check(path)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def _receivers(*names: str) -> list[dict[str, str]]:
    return [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in names]


def test_a_reload_swaps_the_whole_config_or_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "alertflow.yaml"
    receivers = _receivers("a", "b")
    path.write_text(yaml.safe_dump({"receivers": receivers, "routes": {"receiver": "a"}}))
    reloader = Reloader({"ALERTFLOW_CONFIG": str(path)})
    assert reloader.current.route.receivers == ("a",)
    version = reloader.current.version
    assert not reloader.maybe_reload(), "unchanged file: nothing to do"

    path.write_text(yaml.safe_dump({"receivers": receivers, "routes": {"receiver": "b"}}))
    os.utime(path, (1, 1))
    assert reloader.maybe_reload() and reloader.current.route.receivers == ("b",)
    assert reloader.current.version != version

    first = reloader.current
    path.write_text("routes: {receiver: [")
    os.utime(path, (2, 2))
    assert not reloader.maybe_reload() and reloader.current is first
    path.write_text(yaml.safe_dump({"receivers": receivers, "routes": {"receiver": "c"}}))
    os.utime(path, (3, 3))
    assert not reloader.maybe_reload() and reloader.current is first


def test_a_route_without_receivers_pages_every_receiver() -> None:
    config = from_document({"receivers": _receivers("x", "y"), "routes": {"group_wait": 0}})
    assert config.route.receivers == ("x", "y")
    with pytest.raises(ConfigError, match="either receiver or receivers"):
        from_document(
            {"receivers": _receivers("x", "y"), "routes": {"receiver": "x", "receivers": ["y"]}}
        )
