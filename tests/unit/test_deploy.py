"""The container deployment (docker-compose.yml, deploy/) agrees with the code. No Docker needed."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from app.broker import KAFKA_VERSION
from app.settings import VARIABLES, Settings, load_settings
from tests.harness import REPO

DEPLOY = REPO / "deploy"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def defaults(value: Any) -> str:
    """A compose value with each ``${VAR:-default}`` replaced by its default (no .env)."""
    return _INTERPOLATION.sub(lambda match: match.group(2) or "", str(value))


def dockerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of deploy/Dockerfile, continuations joined, comments dropped."""
    lines = [
        line
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = "\n".join(lines).replace("\\\n", " ")
    instructions = []
    for line in filter(str.strip, joined.splitlines()):
        instruction, _, arguments = line.strip().partition(" ")
        instructions.append((instruction.upper(), arguments.strip()))
    return instructions


def instruction(name: str) -> list[str]:
    return [arguments for instr, arguments in dockerfile() if instr == name]


def image_env() -> dict[str, str]:
    """The ``ENV`` of the image."""
    words = (word for arguments in instruction("ENV") for word in shlex.split(arguments))
    pairs = (word.partition("=") for word in words)
    return {name: value for name, _, value in pairs}


def container_env() -> dict[str, str]:
    """The environment of the alertflow container: the image's, then compose's (defaults)."""
    environment = SERVICES["alertflow"]["environment"]
    assert isinstance(environment, dict), "use the mapping form for alertflow's environment"
    return {**image_env(), **{name: defaults(value) for name, value in environment.items()}}


def published(service: str) -> list[tuple[int, int]]:
    """``(host port, container port)`` of each port a service publishes."""
    pairs = []
    for port in SERVICES[service].get("ports", []):
        *_, host, container = str(port).split(":")
        pairs.append((int(host), int(container)))
    return pairs


@pytest.mark.parametrize(
    "path",
    [
        REPO / "docker-compose.yml",
        *sorted(DEPLOY.glob("*.yml")),
        *sorted(DEPLOY.glob("*.yaml")),
    ],
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_yaml_parses(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_container_environment_is_settings_alertflow_knows() -> None:
    env = container_env()
    ours = {name for name in env if name.startswith(("ALERTFLOW_", "KAFKA_"))}
    assert ours - set(VARIABLES) - {"ALERTFLOW_CONFIG"} == set()
    settings = load_settings(env)
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.data_dir == Path("/var/lib/alertflow")
    assert settings.api_token


def test_kafka_bootstrap_is_the_kafka_service() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    bootstrap = load_settings(container_env()).kafka_bootstrap
    assert f"PLAINTEXT://{bootstrap}" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "healthcheck" in kafka
    assert SERVICES["alertflow"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_published_port_is_the_exposed_port_and_the_default() -> None:
    settings = load_settings(container_env())
    [(host_port, container_port)] = published("alertflow")
    assert container_port == settings.http_port == Settings().http_port
    assert instruction("EXPOSE") == [str(container_port)]
    assert urlparse(settings.public_url).port == host_port


def test_data_dir_is_the_image_volume_and_a_compose_volume() -> None:
    data_dir = image_env()["ALERTFLOW_DATA_DIR"]
    assert instruction("VOLUME") == [data_dir]
    assert any(volume.split(":")[1] == data_dir for volume in SERVICES["alertflow"]["volumes"])


def test_image_runs_the_worker_as_non_root() -> None:
    [base] = instruction("FROM")
    match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-\w+)?", base)
    assert match, base
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(f"{match[1]}.0")
    assert instruction("USER") and instruction("USER")[-1].split(":")[0] not in ("0", "root")
    assert json.loads(instruction("ENTRYPOINT")[0]) == list(PYPROJECT["project"]["scripts"])
    assert json.loads(instruction("CMD")[0]) == ["worker"]


def test_build_context_holds_every_package() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert "pyproject.toml" in allowed
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in packages} <= allowed


def test_prometheus_scrapes_alertflow() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    targets = [target for static in job["static_configs"] for target in static["targets"]]
    assert targets == [f"alertflow:{load_settings(container_env()).http_port}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_alertmanager_sends_to_alertflow_with_its_token() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    [receiver] = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    [webhook] = receiver["webhook_configs"]
    url = urlparse(webhook["url"])
    assert (url.hostname, url.port, url.path) == (
        "alertflow",
        load_settings(container_env()).http_port,
        "/webhooks/alertmanager",
    )
    # The credentials file is a compose config holding the very expression alertflow's token has.
    credentials_file = webhook["http_config"]["authorization"]["credentials_file"]
    [mount] = [c for c in SERVICES["alertmanager"]["configs"] if c["target"] == credentials_file]
    token = COMPOSE["configs"][mount["source"]]["content"]
    assert token == SERVICES["alertflow"]["environment"]["ALERTFLOW_API_TOKEN"]


def test_bind_mounted_files_exist() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).is_file(), volume


def test_example_settings_file_holds_every_setting_at_its_default() -> None:
    path = DEPLOY / "alertflow.example.yaml"
    keys = yaml.safe_load(path.read_text())
    assert {VARIABLES.get(key.upper(), key) for key in keys} == set(VARIABLES.values())
    assert load_settings({"ALERTFLOW_CONFIG": str(path)}) == Settings()


class _Health(BaseHTTPRequestHandler):
    status = 200
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Health.seen.clear()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("token", "status", "healthy"),
    [
        (None, 200, True),
        ("s3cret", 200, True),
        ("s3cret", 503, False),
    ],
)
def test_healthcheck_asks_health_with_the_token(
    health_server: ThreadingHTTPServer, token: str | None, status: int, healthy: bool
) -> None:
    [healthcheck] = instruction("HEALTHCHECK")
    command = json.loads(healthcheck.partition("CMD ")[2])
    assert command[0] == "python"
    _Health.status = status
    env = {"ALERTFLOW_HTTP_PORT": str(health_server.server_port)}
    if token:
        env["ALERTFLOW_API_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, *command[1:]], env=env, cwd=REPO, capture_output=True, timeout=30
    )
    assert (done.returncode == 0) is healthy, done.stderr
    assert _Health.seen == [("/api/v1/health", f"Bearer {token}" if token else None)]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not on PATH")
def test_promtool_accepts_prometheus_config() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not on PATH")
def test_amtool_accepts_alertmanager_config() -> None:
    done = subprocess.run(
        ["amtool", "check-config", str(DEPLOY / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
