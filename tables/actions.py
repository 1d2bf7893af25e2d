"""The actions agent's state (agents.actions): runs, rate-limit windows, the kill switch.

``run|<run id>`` → the run (app.actions.runs); ``limit|<route>|<receiver>`` → the start times of
that route's recent runs of that action; ``kill_switch`` → who engaged it, when and why. One
partition, like ``actions.events`` that writes it: one worker owns every run at a time. Finished
runs are deleted after ``RETENTION_MS``, so the table holds the last week's runs.
"""

from __future__ import annotations

from typing import Any, cast

import faust

from app.faust_app import app
from tables.define import ROCKSDB_OPTIONS

actions = cast(
    faust.Table[str, Any],
    app.Table(
        "actions",
        key_type=str,
        partitions=1,
        help=__doc__,
        options=dict(ROCKSDB_OPTIONS),
    ),
)
