"""The console commands without a broker: ``templates``, help, version, configuration and port
errors, ``tail`` giving up. Those that need the broker are in ``tests/flow/test_cli.py``."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from app.settings import SPECS, read_by
from app.tail import TAIL_TIMEOUT
from tests.harness import REPO

ALERTFLOW = str(REPO / ".venv" / "bin" / "alertflow")


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


# --- first-run friction: version, help, busy ports, tail's errors -------------------------

COMMANDS = ("run", "worker", "broker", "templates", "tail", "eval", "check-config", "token")


def alertflow(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTFLOW_", "KAFKA_"))}
    return subprocess.run(
        [ALERTFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_version_is_the_package_version() -> None:
    done = alertflow("--version")
    assert (
        done.returncode == 0 and done.stdout.strip() == f"alertflow, version {version('alertflow')}"
    )


def test_top_level_help_lists_every_command() -> None:
    listed = alertflow("--help").stdout.split("Commands:")[1]
    assert sorted(line.split()[0] for line in listed.strip().splitlines()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_settings_the_command_reads_with_defaults(command: str) -> None:
    done = alertflow(command, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # help wraps long lines
    for spec in read_by(command):
        assert f"{spec.variable} {spec.meaning} [default: {spec.default}]" in text
    others = {spec.variable for spec in SPECS} - {spec.variable for spec in read_by(command)}
    assert not [variable for variable in others if f" {variable} " in text]


def test_every_settings_error_is_reported_in_one_run() -> None:
    done = alertflow(
        "worker",
        env={"ALERTFLOW_HTTP_PORT": "http", "ALERTFLOW_LOG_FORMAT": "xml", "KAFKA_BOOTSTRAP": "x"},
    )
    assert done.returncode == 2
    problems = done.stderr.strip().splitlines()
    assert [line.split(":")[2].strip() for line in problems] == [
        "KAFKA_BOOTSTRAP",
        "ALERTFLOW_HTTP_PORT",
        "ALERTFLOW_LOG_FORMAT",
    ]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["run", "broker"])
def test_a_busy_broker_port_is_one_line_and_exit_2(
    command: str, taken_port: int, tmp_path: Path
) -> None:
    env = {"ALERTFLOW_KAFKA_PORT": str(taken_port), "ALERTFLOW_DATA_DIR": str(tmp_path)}
    done = alertflow(command, env=env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"127.0.0.1:{taken_port} is already in use" in line
    assert "set ALERTFLOW_KAFKA_PORT to a free port" in line


def test_tail_without_a_broker_gives_up_within_seconds() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    started = time.monotonic()
    done = alertflow("tail", env={"ALERTFLOW_KAFKA_PORT": str(dead)}, timeout=30)
    assert time.monotonic() - started < TAIL_TIMEOUT + 5
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()  # and no librdkafka chatter
    assert f"no Kafka broker answered at 127.0.0.1:{dead}" in line


def test_operations_doc_lists_every_setting_as_declared() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    for spec in SPECS:
        row = (
            f"| `{spec.variable}` | `{spec.default}` | {spec.meaning} | {', '.join(spec.read_by)} |"
        )
        assert row in doc, row


def test_unwritable_data_dir_exits_2_naming_the_key(tmp_path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for data_dir in ("/proc/alertflow-data", a_file, a_file / "var"):
        env = {**os.environ, "ALERTFLOW_DATA_DIR": str(data_dir), "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
        for command in ("worker", "broker"):
            done = subprocess.run(
                [ALERTFLOW, command], capture_output=True, text=True, timeout=60, env=env
            )
            assert done.returncode == 2, (data_dir, command, done.stderr[-2000:])
            assert "ALERTFLOW_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
