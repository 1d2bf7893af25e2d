"""Faust's own ceiling: a no-op agent over the bench's backlog, in a worker of its own.

Run by the bench as ``python noop.py worker`` with ``BENCH_BOOTSTRAP``, ``BENCH_TOPIC`` and
``BENCH_ALERTS`` set: the agent reads every message of the topic (a consumer group of its own,
from the beginning), decodes the batch like a stage does, counts its records and exits once it
has seen ``BENCH_ALERTS`` of them, printing ``noop <alerts> <seconds> <cpu seconds>`` (first
message to last).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import faust
import orjson

BOOTSTRAP = os.environ["BENCH_BOOTSTRAP"]
TOPIC = os.environ["BENCH_TOPIC"]
ALERTS = int(os.environ["BENCH_ALERTS"])

app = faust.App(
    f"bench-noop-{uuid.uuid4().hex[:8]}",
    broker=f"kafka://{BOOTSTRAP}",
    store="memory://",
    datadir=os.environ.get("BENCH_DATADIR", "/tmp/bench-noop"),
    consumer_auto_offset_reset="earliest",
    topic_allow_declare=False,
    web_enabled=False,
)
source = app.topic(
    TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)


@app.agent(source)
async def noop(stream: faust.StreamT[Any]) -> None:
    """Decode each batch message, count its records, do nothing else."""
    seen, first = 0, 0.0
    cpu = 0.0
    async for event in stream.events():
        if not first:
            first, cpu = time.perf_counter(), time.process_time()
        seen += len(orjson.loads(event.value)["batch"])
        if seen >= ALERTS:
            print(
                f"noop {seen} {time.perf_counter() - first:.3f} {time.process_time() - cpu:.3f}",
                flush=True,
            )
            os._exit(0)


if __name__ == "__main__":
    app.main()
