"""``GET /api/v2/status`` and ``/receivers`` in Alertmanager's shapes (0.25).

``config.original`` is the configuration as the files give it — the Alertmanager file whole and
the Alertmanager sections of alertflow's file (never its settings) — with every secret replaced
by ``<secret>``, as Alertmanager masks its secrets; ``${VAR}`` references stay as written.
``versionInfo.version`` is the Alertmanager API version alertflow implements (``0.25.0``), so
amtool's version check passes; ``branch`` says ``alertflow`` and ``revision`` its version.
Clustering is Kafka's business here: ``cluster.status`` is ``disabled``, as for a single
Alertmanager.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

from app.config import Config

API_VERSION = "0.25.0"
SECRET = "<secret>"
# Keys whose values Alertmanager (and alertflow's receivers) treat as secrets.
SECRET_KEYS = frozenset(
    {
        *("api_url", "slack_api_url", "url", "webhook_url", "routing_key", "service_key"),
        *("auth_password", "auth_secret", "smtp_auth_password", "smtp_auth_secret"),
        *("password", "credentials", "bearer_token", "token", "secret", "client_secret"),
        *("api_key", "api_secret", "opsgenie_api_key", "victorops_api_key", "wechat_api_secret"),
        *("bot_token", "user_key", "signing_secret", "api_token"),
    }
)
# Sections of alertflow's own file that describe alerting (the rest are its settings).
SECTIONS = (
    *("global", "route", "routes", "receivers", "inhibit_rules", "time_intervals"),
    *("mute_time_intervals", "templates", "escalation_policies", "heartbeats", "dedup", "notify"),
)


def masked(value: Any) -> Any:
    """``value`` with every secret replaced by ``<secret>``.

    >>> masked({"receivers": [{"name": "ops", "slack_configs": [{"api_url": "https://x",
    ...         "channel": "#ops"}]}]})
    {'receivers': [{'name': 'ops', 'slack_configs': [{'api_url': '<secret>', 'channel': '#ops'}]}]}
    """
    if isinstance(value, dict):
        return {
            key: SECRET if key in SECRET_KEYS and value[key] not in (None, "") else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def original(alertmanager: Mapping[str, Any] | None, own: Mapping[str, Any] | None) -> str:
    """The YAML of ``config.original``: the Alertmanager file, then the alerting sections of
    alertflow's file, secrets masked.

    >>> print(original({"route": {"receiver": "ops"}}, {"api_token": "t", "heartbeats": []}))
    route:
      receiver: ops
    heartbeats: []
    <BLANKLINE>
    """
    document: dict[str, Any] = dict(alertmanager or {})
    for key, value in (own or {}).items():
        if key in SECTIONS and key not in document:
            document[key] = value
    if not document:
        return ""
    return str(yaml.safe_dump(masked(document), sort_keys=False, allow_unicode=True))


def status(config_original: str, uptime: str) -> dict[str, Any]:
    """The ``alertmanagerStatus`` document.

    >>> s = status("route: {}\\n", "2026-01-01T00:00:00.000Z")
    >>> s["cluster"], s["versionInfo"]["version"], s["config"]["original"]
    ({'peers': [], 'status': 'disabled'}, '0.25.0', 'route: {}\\n')
    """
    return {
        "cluster": {"peers": [], "status": "disabled"},
        "config": {"original": config_original},
        "uptime": uptime,
        "versionInfo": {
            "branch": "alertflow",
            "buildDate": "",
            "buildUser": "alertflow",
            "goVersion": f"none: alertflow on Python {platform.python_version()}",
            "revision": f"alertflow {_own_version()}",
            "version": API_VERSION,
        },
    }


def receivers(config: Config) -> list[dict[str, str]]:
    """Every receiver the configuration names, as ``[{name}]``.

    >>> from app.config import Config
    >>> receivers(Config(receiver_sinks={"ops": ("ops",), "db": ()}))
    [{'name': 'ops'}, {'name': 'db'}]
    """
    names: Iterable[str] = config.receiver_sinks
    return [{"name": name} for name in names]


def _own_version() -> str:
    try:
        return version("alertflow")
    except PackageNotFoundError:
        return "unknown"
