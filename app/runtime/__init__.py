"""The stage runtime: how every agent of the chain reads batches, keeps state and sends.

Faust runs the agents (consumer groups, partition assignment, table recovery from changelogs);
this package is what each agent does with its Kafka messages: :mod:`~app.runtime.stage` hands
the records of a run of messages of one partition to a stage's handler with an explicit
:class:`~app.runtime.stage.Context`, :mod:`~app.runtime.state` gives it the rows of its tables
in that partition, and
:mod:`~app.runtime.outbox` sends every output and changelog row as record batches through one
producer before the messages are acknowledged (at-least-once).

The names below are imported when first used, so that a process that needs only
:mod:`~app.runtime.batches` or :mod:`~app.runtime.partitions` (a parse process) does not load
Faust and aiokafka.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.runtime.outbox import Outbox, RecordTooLarge
    from app.runtime.partitions import partition_of
    from app.runtime.stage import Context, Record, run_stage
    from app.runtime.state import StateTable

_HOMES = {
    "Context": "app.runtime.stage",
    "Outbox": "app.runtime.outbox",
    "Record": "app.runtime.stage",
    "RecordTooLarge": "app.runtime.outbox",
    "StateTable": "app.runtime.state",
    "partition_of": "app.runtime.partitions",
    "run_stage": "app.runtime.stage",
}

__all__ = [
    "Context",
    "Outbox",
    "Record",
    "RecordTooLarge",
    "StateTable",
    "partition_of",
    "run_stage",
]


def __getattr__(name: str) -> Any:
    """``from app.runtime import StateTable`` and the like, imported on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
