"""Stable identities: Alertmanager's label fingerprint and the id of one firing episode."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1
_SEPARATOR = 0xFF


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's ``LabelSet.Fingerprint``: FNV-1a 64 over sorted names and values.

    Each name and each value is followed by the byte 0xff; the result is 16 hex digits.

    >>> label_fingerprint({"alertname": "DiskFull", "cluster": "prod",
    ...                    "instance": "db1", "severity": "critical"})
    '1560ad22a2dfb891'
    >>> label_fingerprint({})
    'cbf29ce484222325'
    """
    h = _FNV64_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV64_PRIME) & _MASK64
            h = ((h ^ _SEPARATOR) * _FNV64_PRIME) & _MASK64
    return f"{h:016x}"


def alert_id(tenant: str, fingerprint: str, starts_at_ms: int) -> str:
    """The id of one firing episode: the same fingerprint and start time give the same id.

    Tenants are kept apart: two tenants' alerts with equal labels are different alerts.

    >>> alert_id("t", "1560ad22a2dfb891", 0) == alert_id("t", "1560ad22a2dfb891", 0)
    True
    >>> alert_id("t", "1560ad22a2dfb891", 0) != alert_id("t", "1560ad22a2dfb891", 1)
    True
    >>> alert_id("t", "1560ad22a2dfb891", 0) != alert_id("u", "1560ad22a2dfb891", 0)
    True
    """
    digest = hashlib.blake2b(f"{tenant}/{fingerprint}@{starts_at_ms}".encode(), digest_size=10)
    return digest.hexdigest()
