"""Readiness of this worker: faults its parts report while they last.

>>> report_fault("storage", "no space left"); faults()
{'storage': 'no space left'}
>>> clear_fault("storage"); faults()
{}
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_faults: dict[str, str] = {}


def report_fault(kind: str, reason: str) -> None:
    """Mark this worker not ready because of ``kind``, saying why."""
    if _faults.get(kind) != reason:
        log.warning("not ready: %s: %s", kind, reason)
    _faults[kind] = reason


def clear_fault(kind: str) -> None:
    """The fault of ``kind`` is over (a no-op when none was reported)."""
    if _faults.pop(kind, None) is not None:
        log.warning("ready again: %s recovered", kind)


def faults() -> dict[str, str]:
    """Kind → reason of every fault reported and not cleared."""
    return dict(_faults)
