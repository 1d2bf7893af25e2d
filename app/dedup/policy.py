"""How one source's alerts are deduplicated: the policy per source and its ``dedup:`` section.

Alertmanager semantics by default (the fingerprint while firing is one alert; a new start time
is a new episode); Sentry and the plain API merge episodes: the fingerprint is the identity
while it fires. Per source, in the ``ALERTFLOW_CONFIG`` file::

    dedup:
      default: {flap_changes: 4, flap_window: 30m, settle: 10m, expire_after: 7d}
      sentry:  {settle: 1h}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from app.routes import RouteError, parse_duration


@dataclass(frozen=True)
class DedupPolicy:
    """How one source's alerts are deduplicated (durations in milliseconds)."""

    flap_changes: int = 3
    flap_window_ms: int = 20 * 60_000
    settle_ms: int = 10 * 60_000
    expire_after_ms: int = 7 * 86_400_000
    merge_episodes: bool = False  # the fingerprint, not the start time, is the episode

    def describe_window(self) -> str:
        """The flap window in words."""
        return words(self.flap_window_ms)


POLICIES: dict[str, DedupPolicy] = {
    "alertmanager": DedupPolicy(),
    "sentry": DedupPolicy(merge_episodes=True),
    "api": DedupPolicy(merge_episodes=True),
}


POLICIES: dict[str, DedupPolicy] = {
    "alertmanager": DedupPolicy(),
    "sentry": DedupPolicy(merge_episodes=True),
    "api": DedupPolicy(merge_episodes=True),
}


def load_policies(path: Path | None) -> dict[str, DedupPolicy]:
    """The per-source policies, with the ``dedup:`` key of the YAML file at ``path`` applied.

    >>> load_policies(None)["sentry"].merge_episodes
    True
    """
    policies = dict(POLICIES)
    if path is None:
        return policies
    document = yaml.safe_load(path.read_text()) or {}
    section = document.get("dedup") if isinstance(document, dict) else None
    if section is None:
        return policies
    if not isinstance(section, dict):
        raise RouteError("dedup: expected a mapping of source to policy")
    default = _policy(section.get("default", {}), "dedup.default", DedupPolicy())
    for source in ("alertmanager", "sentry", "api"):
        base = replace(default, merge_episodes=POLICIES[source].merge_episodes)
        policies[source] = _policy(section.get(source, {}), f"dedup.{source}", base)
    unknown = set(section) - {"default", *POLICIES}
    if unknown:
        raise RouteError(f"dedup: unknown source {sorted(unknown)[0]!r}")
    return policies


def _policy(spec: Any, path: str, base: DedupPolicy) -> DedupPolicy:
    if not isinstance(spec, dict):
        raise RouteError(f"{path}: expected a mapping")
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("flap_window", "settle", "expire_after"):
            changes[f"{key}_ms"] = parse_duration(value, f"{path}.{key}")
        elif key == "flap_changes":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RouteError(f"{path}.flap_changes: expected a whole number ≥ 1")
            changes[key] = value
        elif key == "merge_episodes":
            if not isinstance(value, bool):
                raise RouteError(f"{path}.merge_episodes: expected true or false")
            changes[key] = value
        else:
            raise RouteError(f"{path}: unknown key {key!r}")
    return replace(base, **changes)


def words(ms: int) -> str:
    """A duration in words.

    >>> words(90_000), words(1_800_000), words(7_200_000)
    ('90s', '30m', '2h')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // 1000}s"
