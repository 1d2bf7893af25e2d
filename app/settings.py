"""Settings from the environment, optionally from a YAML file named by ``ALERTFLOW_CONFIG``.

One declaration per setting in :class:`Settings`: its type, default, meaning and the commands
that read it. Everything else — environment variable names, the YAML keys, ``--help`` of each
command, the JSON schema, validation with every error reported at once — is derived from it.

The variable of a field is ``ALERTFLOW_<FIELD>`` unless it says otherwise (``KAFKA_BOOTSTRAP``).
In YAML the variable's name or the field's name is accepted; the environment wins over the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlparse

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as _ValidationError
from pydantic.config import JsonDict

SECTIONS = {"routes", "dedup", "receivers", "inhibit_rules", "escalation_policies", "notify"}
SECTIONS |= {"route", "time_intervals", "mute_time_intervals", "templates", "global"}  # app.config
SECTIONS |= {"tokens"}  # app.access
SECTIONS |= {"heartbeats"}  # app.heartbeats

RUN, WORKER, BROKER, TAIL, EVAL = "run", "worker", "broker", "tail", "eval"
SERVES = (RUN, WORKER)  # the commands that run a worker
LOGS = (RUN, WORKER, BROKER, TAIL, EVAL)  # the commands that log


class SettingsError(ValueError):
    """Settings are missing, malformed or out of range; each problem names its key."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


def _http_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("expected an http(s) URL")
    return url


def _bootstrap(bootstrap: str) -> str:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("expected host:port[,host:port]")
    return bootstrap


Port = Annotated[int, Field(ge=1, le=65535)]
Share = Annotated[float, Field(ge=0, le=1)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
LogLevel = Annotated[
    Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(str.lower)
]


def _split(value: Any) -> Any:
    """A comma-separated string (the environment) as a list; a YAML list as it is."""
    return (
        [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, str)
        else value
    )


def _absolute(paths: tuple[str, ...]) -> tuple[str, ...]:
    for path in paths:
        if not path.startswith("/"):
            raise ValueError(f"{path!r} is not an absolute path")
    return paths


Executables = Annotated[tuple[str, ...], BeforeValidator(_split), AfterValidator(_absolute)]


def setting(
    default: Any,
    meaning: str,
    read_by: Iterable[str] = SERVES,
    *,
    env: str | None = None,
    shown: str | None = None,
) -> Any:
    """Declare a setting: its default, what it means and the commands that read it.

    ``env`` overrides the variable name; ``shown`` the default as ``--help`` prints it.
    """
    extra: JsonDict = {"read_by": list(read_by), "env": env, "shown": shown}
    return Field(default, description=meaning, json_schema_extra=extra)


class Settings(BaseModel):
    """Validated configuration of one process."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka_bootstrap: Annotated[str, AfterValidator(_bootstrap)] | None = setting(
        None,
        "host:port[,host:port] of an existing Kafka cluster",
        (*SERVES, TAIL),
        env="KAFKA_BOOTSTRAP",
        shown="unset: the embedded broker",
    )
    kafka_port: Port = setting(
        9092, "port of the embedded broker on 127.0.0.1", (*SERVES, BROKER, TAIL)
    )
    http_port: Port = setting(6066, "port of the worker's HTTP API (webhooks, /api, /metrics)")
    http_host: str = setting("127.0.0.1", "host name other workers reach this one at")
    http_bind: str = setting(
        "127.0.0.1", "interface the HTTP API listens on; 0.0.0.0 needs a token (docs/security.md)"
    )
    public_url: HttpUrl | None = setting(
        None, "base of the links in notifications", shown="http://<host>:<port>"
    )
    data_dir: Path = setting(
        Path("./var"),
        "RocksDB tables and the embedded broker's data",
        (*SERVES, BROKER),
        shown="./var",
    )
    webhook_url: HttpUrl | None = setting(None, "default receiver: the generic JSON webhook")
    webhook_secret: str | None = setting(None, "HMAC key of X-Alertflow-Signature on webhook posts")
    sentry_client_secret: str | None = setting(None, "Sentry webhooks need a valid signature")
    api_token: str | None = setting(None, "bearer token every /api/ and /webhooks/ call needs")
    slack_signing_secret: str | None = setting(
        None, "Slack app signing secret: Slack buttons, /webhooks/slack/interactions"
    )
    insecure: bool = setting(False, "allow a non-loopback http_bind without any token")
    parse_processes: Annotated[int, Field(ge=0, le=16)] = setting(
        2,
        "processes that parse large ingest requests and write them to Kafka, each with a "
        "producer of its own (0: the worker's event loop parses all, and the worker writes them)",
    )
    ingest_inflight_mb: Annotated[int, Field(ge=1)] = setting(
        64,
        "megabytes of ingest bodies accepted at once (as Content-Length says); more wait up "
        "to 5 s, then get 503 overloaded",
    )
    partitions: Annotated[int, Field(ge=1, le=256)] = setting(
        4, "partitions of every topic (create-only)", (*SERVES, BROKER)
    )
    log_level: LogLevel = setting("info", "debug, info, warning, error or critical", LOGS)
    log_format: Literal["text", "json"] = setting(
        "text", "text, or json: one object per line", LOGS
    )
    notify_threshold: Share = setting(0.35, "score from which the model pages", (*SERVES, EVAL))
    digest_threshold: Share = setting(
        0.15, "score from which it digests; below it suppresses", (*SERVES, EVAL)
    )
    self_resolve_minutes: Annotated[float, Field(ge=0)] = setting(
        15.0, "a page resolved by itself within this is weak noise", (*SERVES, EVAL)
    )
    self_resolve_weight: Share = setting(0.3, "sample weight of that weak label", (*SERVES, EVAL))
    actions_allow: Executables = setting(
        (),
        "executables action receivers may run (absolute paths, with commas between)",
        shown="none",
    )
    actions_kill_switch: bool = setting(
        False, "true: no action runs, whatever the API says", shown="false"
    )

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        if self.digest_threshold > self.notify_threshold:
            raise ValueError("ALERTFLOW_DIGEST_THRESHOLD: above ALERTFLOW_NOTIFY_THRESHOLD")
        return self

    @property
    def bootstrap(self) -> str:
        """The cluster to use: ``KAFKA_BOOTSTRAP`` or the embedded broker."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def base_url(self) -> str:
        """Where people reach the HTTP API (links in notifications)."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


@dataclass(frozen=True)
class Spec:
    """One setting as ``--help`` and the docs show it."""

    field: str
    variable: str
    default: str
    meaning: str
    read_by: tuple[str, ...]


def _spec(field: str) -> Spec:
    info = Settings.model_fields[field]
    extra = info.json_schema_extra
    assert isinstance(extra, dict) and isinstance(extra["read_by"], list)
    shown = extra["shown"] or ("unset" if info.default is None else str(info.default))
    return Spec(
        field,
        str(extra["env"] or f"ALERTFLOW_{field.upper()}"),
        str(shown),
        info.description or "",
        tuple(str(command) for command in extra["read_by"]),
    )


SPECS = tuple(_spec(field) for field in Settings.model_fields)
VARIABLES = {spec.variable: spec.field for spec in SPECS}


def read_by(command: str) -> list[Spec]:
    """The settings ``command`` reads, in declaration order.

    >>> [spec.variable for spec in read_by("broker")][:2]
    ['ALERTFLOW_KAFKA_PORT', 'ALERTFLOW_DATA_DIR']
    """
    return [spec for spec in SPECS if command in spec.read_by]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the settings; raise :class:`SettingsError` naming every key at
    fault.

    >>> load_settings({"ALERTFLOW_HTTP_PORT": "7000"}).http_port
    7000
    >>> try:
    ...     load_settings({"ALERTFLOW_HTTP_PORT": "seventy", "ALERTFLOW_PARTITIONS": "0"})
    ... except SettingsError as exc:
    ...     for problem in exc.problems:
    ...         print(problem)  # doctest: +ELLIPSIS
    ALERTFLOW_HTTP_PORT: Input should be a valid integer, ... (got 'seventy')
    ALERTFLOW_PARTITIONS: Input should be greater than or equal to 1 (got '0')
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    if config_path := env.get("ALERTFLOW_CONFIG"):
        values, problems = _read_yaml(Path(config_path))
    for variable, field in VARIABLES.items():
        if env.get(variable, "") != "":
            values[field] = env[variable]
    try:
        settings = Settings(**values)
    except _ValidationError as exc:
        problems += [_problem(error) for error in exc.errors()]
    if problems:
        raise SettingsError(*problems)
    return settings


def is_setting(key: str) -> bool:
    """Whether ``key`` names a setting in the YAML file (``http_port``, ``ALERTFLOW_HTTP_PORT``).

    >>> is_setting("http_port"), is_setting("ALERTFLOW_HTTP_PORT"), is_setting("route")
    (True, True, False)
    """
    return _field(key) in Settings.model_fields


def setting_names() -> list[str]:
    """The settings' names as the YAML file spells them (lower case)."""
    return sorted(Settings.model_fields)


def _field(key: str) -> str:
    return VARIABLES.get(key.upper()) or key.lower().removeprefix("alertflow_")


def _read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The settings of the file, and a problem for each unknown key."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"ALERTFLOW_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"ALERTFLOW_CONFIG: {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise SettingsError(f"ALERTFLOW_CONFIG: {path} must hold a mapping of settings")
    values: dict[str, Any] = {}
    problems = []
    for key, value in document.items():
        if key in SECTIONS:
            continue  # read by the module that owns the section
        field = _field(str(key))
        if field not in Settings.model_fields:
            problems.append(f"ALERTFLOW_CONFIG: unknown setting {key!r} in {path}")
        else:
            values[field] = value
    return values, problems


def _problem(error: Any) -> str:
    """One line for one pydantic error: the variable, what is wrong, the value given."""
    if not error["loc"]:  # a check across fields names its variables itself
        return str(error["ctx"]["error"])
    field = str(error["loc"][0])
    variable = next((s.variable for s in SPECS if s.field == field), field)
    message = error["msg"].removeprefix("Value error, ")
    return f"{variable}: {message} (got {error['input']!r})"
