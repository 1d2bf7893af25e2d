"""Stable identities: Alertmanager's label fingerprint and the id of one firing episode."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1
_SEPARATOR = b"\xff"
VECTOR_FROM = 64  # label sets from which one numpy pass beats a Python loop per set
VECTOR_BYTES = 1024  # longer label sets are hashed one by one: one would lengthen every step


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's ``LabelSet.Fingerprint``: FNV-1a 64 over sorted names and values.

    Each name and each value is followed by the byte 0xff; the result is 16 hex digits.

    >>> label_fingerprint({"alertname": "DiskFull", "cluster": "prod",
    ...                    "instance": "db1", "severity": "critical"})
    '1560ad22a2dfb891'
    >>> label_fingerprint({})
    'cbf29ce484222325'
    """
    return _fnv(_hashed_bytes(labels))


def label_fingerprints(label_sets: Sequence[Mapping[str, str]]) -> list[str]:
    """:func:`label_fingerprint` of each label set, in order.

    From ``VECTOR_FROM`` sets on, numpy hashes them side by side, one byte position per step
    (uint64 arithmetic wraps as FNV's does): a few µs a set where the loop takes ~30.

    >>> sets = [{"alertname": f"A{i}", "pod": "x" * i} for i in range(VECTOR_FROM + 1)]
    >>> label_fingerprints(sets) == [label_fingerprint(s) for s in sets]
    True
    """
    if len(label_sets) < VECTOR_FROM:
        return [label_fingerprint(labels) for labels in label_sets]
    data = [_hashed_bytes(labels) for labels in label_sets]
    out = [_fnv(item) if len(item) > VECTOR_BYTES else "" for item in data]
    order = sorted((i for i, item in enumerate(data) if not out[i]), key=lambda i: -len(data[i]))
    if not order:
        return out
    lengths = np.array([len(data[i]) for i in order])
    width = int(lengths[0])
    padded = b"".join(data[i].ljust(width, b"\0") for i in order)
    # One row per byte position, one column per set, longest set first: at each position the
    # sets still going are a prefix of the row. At most VECTOR_BYTES bytes a set.
    grid = np.ascontiguousarray(np.frombuffer(padded, np.uint8).reshape(len(order), width).T)
    going = (lengths[None, :] > np.arange(width)[:, None]).sum(axis=1)
    h = np.full(len(order), _FNV64_OFFSET, np.uint64)
    prime = np.uint64(_FNV64_PRIME)
    for position in range(width):
        sets = h[: going[position]]
        np.bitwise_xor(sets, grid[position, : going[position]], out=sets)
        np.multiply(sets, prime, out=sets)
    for row, index in enumerate(order):
        out[index] = f"{int(h[row]):016x}"
    return out


def _fnv(data: bytes) -> str:
    """FNV-1a 64 of ``data``, 16 hex digits."""
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV64_PRIME) & _MASK64
    return f"{h:016x}"


def _hashed_bytes(labels: Mapping[str, str]) -> bytes:
    """What the label fingerprint hashes: each sorted name and its value, each ended by 0xff."""
    parts: list[bytes] = []
    for name in sorted(labels):
        parts += (name.encode(), _SEPARATOR, labels[name].encode(), _SEPARATOR)
    return b"".join(parts)


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


def episode_key(tenant: str, fingerprint: str) -> str:
    """Fingerprints are per tenant; the stream (and so the partition) is keyed the same.

    >>> episode_key("acme", "1560ad22a2dfb891")
    'acme|1560ad22a2dfb891'
    """
    return f"{tenant}|{fingerprint}"
