"""The stage runtime: how every agent of the chain reads batches, keeps state and sends.

Faust runs the agents (consumer groups, partition assignment, table recovery from changelogs);
this package is what each agent does with its Kafka messages: :mod:`~app.runtime.stage` hands
the records of a run of messages of one partition to a stage's handler with an explicit
:class:`~app.runtime.stage.Context`, :mod:`~app.runtime.state` gives it the rows of its tables
in that partition, and
:mod:`~app.runtime.outbox` sends every output and changelog row as record batches through one
producer before the messages are acknowledged (at-least-once).
"""

from app.runtime.outbox import Outbox, RecordTooLarge
from app.runtime.partitions import partition_of
from app.runtime.stage import Context, Record, run_stage
from app.runtime.state import StateTable

__all__ = [
    "Context",
    "Outbox",
    "Record",
    "RecordTooLarge",
    "StateTable",
    "partition_of",
    "run_stage",
]
