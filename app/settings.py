"""Settings from the environment, optionally from a YAML file named by ``ALERTFLOW_CONFIG``.

Keys are the environment variable names of CONTRACT.md (in YAML, the lower-case name without
the ``ALERTFLOW_`` prefix is accepted too); the environment wins over the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

EMBEDDED_BROKER_PORT = 9092
SECTIONS = {"routes", "dedup", "receivers", "inhibit_rules", "escalation_policies", "notify"}
SECTIONS |= {"route", "time_intervals", "mute_time_intervals", "templates", "global"}  # app.config


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one worker."""

    kafka_bootstrap: str | None = None
    http_port: int = 6066
    http_host: str = "127.0.0.1"
    data_dir: Path = Path("./var")
    webhook_url: str | None = None
    webhook_secret: str | None = None
    sentry_client_secret: str | None = None
    api_token: str | None = None
    partitions: int = 4
    public_url: str | None = None
    log_level: str = "info"
    notify_threshold: float = 0.35  # score from which the model pages (agents.score)
    digest_threshold: float = 0.15  # score from which it digests; below, it suppresses
    self_resolve_minutes: float = 15.0  # resolved by itself within this: weak noise label
    self_resolve_weight: float = 0.3  # sample weight of that weak label

    @property
    def bootstrap(self) -> str:
        """The cluster to use: ``KAFKA_BOOTSTRAP`` or the embedded broker."""
        return self.kafka_bootstrap or f"127.0.0.1:{EMBEDDED_BROKER_PORT}"

    @property
    def base_url(self) -> str:
        """Where people reach the HTTP API (links in notifications)."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


_VARIABLES = {
    "KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "ALERTFLOW_HTTP_PORT": "http_port",
    "ALERTFLOW_HTTP_HOST": "http_host",
    "ALERTFLOW_DATA_DIR": "data_dir",
    "ALERTFLOW_WEBHOOK_URL": "webhook_url",
    "ALERTFLOW_WEBHOOK_SECRET": "webhook_secret",
    "ALERTFLOW_SENTRY_CLIENT_SECRET": "sentry_client_secret",
    "ALERTFLOW_API_TOKEN": "api_token",
    "ALERTFLOW_PARTITIONS": "partitions",
    "ALERTFLOW_PUBLIC_URL": "public_url",
    "ALERTFLOW_LOG_LEVEL": "log_level",
    "ALERTFLOW_NOTIFY_THRESHOLD": "notify_threshold",
    "ALERTFLOW_DIGEST_THRESHOLD": "digest_threshold",
    "ALERTFLOW_SELF_RESOLVE_MINUTES": "self_resolve_minutes",
    "ALERTFLOW_SELF_RESOLVE_WEIGHT": "self_resolve_weight",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the settings; raise :class:`SettingsError` with the key at fault.

    >>> load_settings({"ALERTFLOW_HTTP_PORT": "7000"}).http_port
    7000
    >>> load_settings({"ALERTFLOW_HTTP_PORT": "seventy"})
    Traceback (most recent call last):
    ...
    app.settings.SettingsError: ALERTFLOW_HTTP_PORT: expected a whole number, got 'seventy'
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_path := env.get("ALERTFLOW_CONFIG"):
        values.update(_read_yaml(Path(config_path)))
    for variable, field in _VARIABLES.items():
        if env.get(variable, "") != "":
            values[field] = env[variable]
    return _validate(values)


def is_setting(key: str) -> bool:
    """Whether ``key`` names a setting in the YAML file (``http_port``, ``ALERTFLOW_HTTP_PORT``).

    >>> is_setting("http_port"), is_setting("ALERTFLOW_HTTP_PORT"), is_setting("route")
    (True, True, False)
    """
    return _field(key) in set(_VARIABLES.values())


def setting_names() -> list[str]:
    """The settings' names as the YAML file spells them (lower case)."""
    return sorted(set(_VARIABLES.values()))


def _field(key: str) -> str:
    return _VARIABLES.get(key.upper()) or key.lower().removeprefix("alertflow_")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"ALERTFLOW_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"ALERTFLOW_CONFIG: {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise SettingsError(f"ALERTFLOW_CONFIG: {path} must hold a mapping of settings")
    fields = set(_VARIABLES.values())
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key in SECTIONS:
            continue  # read by the module that owns the section
        field = _field(str(key))
        if field not in fields:
            raise SettingsError(f"ALERTFLOW_CONFIG: unknown setting {key!r} in {path}")
        values[field] = value
    return values


def _validate(values: dict[str, Any]) -> Settings:
    names = {field: variable for variable, field in _VARIABLES.items()}
    for field in ("http_port", "partitions"):
        if field in values:
            values[field] = _whole_number(names[field], values[field])
    if not 1 <= values.get("http_port", 6066) <= 65535:
        raise SettingsError(f"ALERTFLOW_HTTP_PORT: {values['http_port']} is not a TCP port")
    if not 1 <= values.get("partitions", 4) <= 256:
        raise SettingsError("ALERTFLOW_PARTITIONS: must be between 1 and 256")
    for field in _NUMBERS:
        if field in values:
            values[field] = _number(names[field], values[field])
    for field in ("notify_threshold", "digest_threshold", "self_resolve_weight"):
        if values.get(field, 0.0) > 1.0:
            raise SettingsError(f"{names[field]}: must be between 0 and 1")
    if values.get("digest_threshold", 0.15) > values.get("notify_threshold", 0.35):
        raise SettingsError("ALERTFLOW_DIGEST_THRESHOLD: above ALERTFLOW_NOTIFY_THRESHOLD")
    if "data_dir" in values:
        values["data_dir"] = Path(str(values["data_dir"]))
    for field in ("webhook_url", "public_url"):
        if values.get(field) is not None:
            _require_http_url(names[field], str(values[field]))
    if values.get("kafka_bootstrap"):
        _require_bootstrap(str(values["kafka_bootstrap"]))
    return Settings(**values)


def _whole_number(name: str, value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {value!r}") from None


_NUMBERS = ("notify_threshold", "digest_threshold", "self_resolve_minutes", "self_resolve_weight")


def _number(name: str, value: Any) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {value!r}") from None
    if number < 0:
        raise SettingsError(f"{name}: must not be negative")
    return number


def _require_http_url(name: str, url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name}: expected an http(s) URL, got {url!r}")


def _require_bootstrap(bootstrap: str) -> None:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(
                f"KAFKA_BOOTSTRAP: expected host:port[,host:port], got {bootstrap!r}"
            )
