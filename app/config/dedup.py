"""Dedup policies per source (``dedup:``), read by :mod:`agents.dedup`::

    dedup:
      default: {flap_changes: 4, flap_window: 30m, settle: 10m, expire_after: 7d}
      sentry:  {settle: 1h}
      api:     {resolve_timeout: 15m}

``default`` applies to every source, then each source's own keys; Sentry's and the API's
alerts merge episodes (the fingerprint, not the start time, is the episode) unless told not to.
``resolve_timeout`` (0: never) resolves a firing episode not sent again for that long
(:mod:`app.dedup.timeout`): the API's is ``global.resolve_timeout`` (5 minutes) unless told;
Alertmanager's and Sentry's alerts resolve themselves, so theirs is off.
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
    resolve_timeout_ms: int = 0  # a firing episode not sent again for this long resolves; 0: never

    def describe_window(self) -> str:
        """The flap window in words."""
        return words(self.flap_window_ms)


RESOLVE_TIMEOUT_MS = 5 * 60_000  # Alertmanager's default global.resolve_timeout

POLICIES: dict[str, DedupPolicy] = {
    "alertmanager": DedupPolicy(),
    "sentry": DedupPolicy(merge_episodes=True),
    "api": DedupPolicy(merge_episodes=True, resolve_timeout_ms=RESOLVE_TIMEOUT_MS),
}


def dedup_policies(
    spec: DedupSpec | None, resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS
) -> dict[str, DedupPolicy]:
    """The policy of each source, ``default`` and the source's own keys applied; the API's
    ``resolve_timeout`` is ``resolve_timeout_ms`` (``global.resolve_timeout``) unless told.

    >>> p = dedup_policies(DedupSpec.model_validate({"default": {"settle": "5m"},
    ...                                              "sentry": {"settle": "1h"}}))
    >>> p["alertmanager"].settle_ms, p["sentry"].settle_ms, p["sentry"].merge_episodes
    (300000, 3600000, True)
    >>> [p[s].resolve_timeout_ms for s in ("api", "alertmanager", "sentry")]
    [300000, 0, 0]
    >>> p = dedup_policies(DedupSpec.model_validate({"api": {"resolve_timeout": 0}}), 60_000)
    >>> p["api"].resolve_timeout_ms, dedup_policies(None, 60_000)["api"].resolve_timeout_ms
    (0, 60000)
    """
    bases = {**POLICIES, "api": replace(POLICIES["api"], resolve_timeout_ms=resolve_timeout_ms)}
    if spec is None:
        return bases
    return {
        source: _apply(_apply(base, spec.default), getattr(spec, source))
        for source, base in bases.items()
    }


def _changes(spec: DedupPolicySpec) -> dict[str, object]:
    names = {"flap_window": "flap_window_ms", "settle": "settle_ms"}
    names |= {"expire_after": "expire_after_ms", "flap_changes": "flap_changes"}
    names |= {"merge_episodes": "merge_episodes", "resolve_timeout": "resolve_timeout_ms"}
    return {names[key]: value for key, value in spec if value is not None}


def _apply(policy: DedupPolicy, spec: DedupPolicySpec) -> DedupPolicy:
    return replace(policy, **_changes(spec))  # type: ignore[arg-type]
