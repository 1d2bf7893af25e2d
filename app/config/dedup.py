"""Dedup policies per source (``dedup:``), read by :mod:`agents.dedup`::

    dedup:
      default: {flap_changes: 4, flap_window: 30m, settle: 10m, expire_after: 7d}
      sentry:  {settle: 1h}

``default`` applies to every source, then each source's own keys; Sentry's and the API's
alerts merge episodes (the fingerprint, not the start time, is the episode) unless told not to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.config.durations import words
from app.config.spec import DedupPolicySpec, DedupSpec


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


def dedup_policies(spec: DedupSpec | None) -> dict[str, DedupPolicy]:
    """The policy of each source, ``default`` and the source's own keys applied.

    >>> p = dedup_policies(DedupSpec.model_validate({"default": {"settle": "5m"},
    ...                                              "sentry": {"settle": "1h"}}))
    >>> p["alertmanager"].settle_ms, p["sentry"].settle_ms, p["sentry"].merge_episodes
    (300000, 3600000, True)
    """
    if spec is None:
        return dict(POLICIES)
    return {
        source: _apply(_apply(base, spec.default), getattr(spec, source))
        for source, base in POLICIES.items()
    }


def _changes(spec: DedupPolicySpec) -> dict[str, object]:
    names = {"flap_window": "flap_window_ms", "settle": "settle_ms"}
    names |= {"expire_after": "expire_after_ms", "flap_changes": "flap_changes"}
    names |= {"merge_episodes": "merge_episodes"}
    return {names[key]: value for key, value in spec if value is not None}


def _apply(policy: DedupPolicy, spec: DedupPolicySpec) -> DedupPolicy:
    return replace(policy, **_changes(spec))  # type: ignore[arg-type]
