"""The notify stage without Kafka: partitions of in-memory rows and a bus for ``notify.events``.

What tests and benchmarks drive: each call is a :class:`~app.notify.step.Step` over the rows of
one partition, committed as the runtime commits them (JSON, every row's size noted); records
the stage sends to ``notify.events`` go to their partition's queue, and sends can be answered
at once as delivered. Event time is what the records say; wall time is given.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app.config import Config, from_document
from app.notify import events
from app.notify.delivery import result_event
from app.notify.muting import Muting
from app.notify.step import Outputs, Settings, Step, Tables
from app.notify.timers import Timers
from app.records import Alert
from app.runtime.partitions import partition_of
from app.runtime.state import Rows, StateTable
from app.sinks.base import Delivery

POSITIONS = 1 << 16
TABLES = ("incidents", "members", "nflog", "timers")


class MemoryStore:
    """What :class:`~app.runtime.store.RowStore` does, in dicts (one per partition)."""

    def __init__(self) -> None:
        self.data: dict[int, dict[bytes, bytes]] = defaultdict(dict)

    def get_raw(self, partition: int, key: bytes) -> bytes | None:
        return self.data[partition].get(key)

    def write_raw(self, partition: int, rows: Iterable[tuple[bytes, bytes | None]]) -> None:
        for key, value in rows:
            if value is None:
                self.data[partition].pop(key, None)
            else:
                self.data[partition][key] = value

    def find_raw(self, key: bytes) -> bytes | None:
        return next((rows[key] for rows in self.data.values() if key in rows), None)

    def items_raw(self, partition: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        for where, rows in self.data.items():
            if partition is None or where == partition:
                yield from rows.items()


class MemoryTable(StateTable):
    """A :class:`~app.runtime.state.StateTable` (its row cache included) over a
    :class:`MemoryStore` instead of Faust's RocksDB."""

    def __init__(self, name: str, partitions: int) -> None:  # no Faust table
        self.name = name
        self.partitions = partitions
        self._memory = MemoryStore()
        self._cache = OrderedDict()
        self._deferred = {}
        self._unsent = {}
        self._unstored = {}

    @property
    def changelog(self) -> str:
        return f"{self.name}-changelog"

    @property
    def store(self) -> Any:
        return self._memory


class _Sizes:
    """Stands in for the outbox when rows are committed: notes the largest row written."""

    def __init__(self) -> None:
        self.largest = 0
        self.rows = 0

    def row(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        self.largest = max(self.largest, len(key) + len(value or b""))
        self.rows += 1

    def after_sent(self, callback: Callable[[], None]) -> None:
        callback()  # nothing is sent: as acknowledged at once


class Simulation:
    """The notify stage over ``partitions`` partitions of in-memory rows.

    >>> from app.records import ms_time
    >>> sim = Simulation(config_of({"routes": {"receiver": "ops"}}, "ops"))
    >>> sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    >>> [(n["receiver"], n["change"], n["alert_ids"]) for n in sim.sent]
    [('ops', 'firing', ['a1'])]
    """

    def __init__(
        self,
        config: Config,
        *,
        partitions: int = 4,
        settings: Settings | None = None,
        answer: bool = True,
        muting: Muting | None = None,
        keep: bool = True,
    ) -> None:
        from app.learning.labels import LabelPolicy

        self.config = config
        self.partitions = partitions
        self.settings = settings or Settings("http://alertflow", LabelPolicy())
        self.answer = answer  # deliveries succeed at once
        self.keep = keep  # keep what was published and sent (a benchmark does not)
        self.muting = muting or Muting.of([], config.inhibit_rules)
        self.wall_ms = 0
        self.tables = {name: MemoryTable(name, partitions) for name in TABLES}
        self.timers = [Timers() for _ in range(partitions)]
        self.offsets = [0] * partitions
        self.sizes = _Sizes()
        self.cpu = [0.0] * partitions  # CPU seconds each partition's calls took
        self._started: dict[int, float] = {}
        self.out = Outputs()
        self.sent: list[dict[str, Any]] = []  # every notification delivered (or started)
        self.running: set[str] = set()
        self._queue: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)

    def partition(self, key: str) -> int:
        """Where ``key`` lives."""
        return partition_of(key, self.partitions)

    def alerts(
        self,
        records: Iterable[tuple[str, Alert]],
        *,
        crash: bool = False,
        awaiting: Iterable[str] = (),
        at: int | None = None,
    ) -> None:
        """One message per partition the records go to — their incidents', or ``at``, where
        correlation placed them (their group's) —; then the bus.

        ``crash``: the worker dies once the rows are in RocksDB, before its outputs are sent
        and the messages acknowledged — they come again (same positions) to a worker whose rows
        are ahead of what was sent. (The worker no longer gets there: its rows reach RocksDB
        with their outputs sent, :mod:`app.runtime.state`; a replay over them must still apply
        once.) ``awaiting``: incidents these records open whose opening
        triage will judge, as when correlation placed them in the stage (``judged`` or
        ``merge`` then comes on :meth:`event`).
        """
        awaiting = set(awaiting)
        by_partition: dict[int, list[tuple[str, Alert]]] = defaultdict(list)
        for incident_id, alert in records:
            where = self.partition(incident_id) if at is None else at
            by_partition[where].append((incident_id, alert))
        for partition, batch in sorted(by_partition.items()):
            first = self._offset(partition)
            step = self._step(partition)
            step.awaiting_triage(awaiting)
            step.alerts([(key, alert, first + n) for n, (key, alert) in enumerate(batch)])
            if crash:
                step.settle()
                for rows in vars(step.tables).values():
                    rows.commit(self.sizes)
                self.offsets[partition] -= 1
                self.restart(partition)
            else:
                self._done(partition, step)
        self.drain()

    def restart(self, partition: int) -> None:
        """The partition's owner restarts: what it held in memory is built from its rows."""
        self.running.clear()
        self.timers[partition] = Timers.rebuilt(
            self.tables["timers"].items(partition),
            lambda key: self.tables["nflog"].read(partition, key),
            self.config.options.resend_after_ms,
        )

    def event(self, key: str, value: dict[str, Any], partition: int | None = None) -> None:
        """One record on ``notify.events``; then the bus."""
        self._queue[self.partition(key) if partition is None else partition].append((key, value))
        self.drain()

    def tick(self, at_ms: int) -> None:
        """A tick on every partition: the workers' clock says ``at_ms`` (``wall_ms``)."""
        self.wall_ms = max(self.wall_ms, at_ms)
        for partition in range(self.partitions):
            self._queue[partition].append(("", {"kind": "tick", "at_ms": at_ms}))
        self.drain()

    def drain(self) -> None:
        """Handle what waits on ``notify.events``, one message per partition at a time."""
        while any(self._queue.values()):
            for partition in sorted(self._queue):
                batch, self._queue[partition] = self._queue[partition], []
                if not batch:
                    continue
                first = self._offset(partition)
                step = self._step(partition)
                for n, (key, value) in enumerate(batch):
                    events.apply(step, key, value, first + n)
                self._done(partition, step)

    def row(self, table: str, key: str, partition: int | None = None) -> Any:
        """A row as stored (in the partition of ``key`` unless said otherwise)."""
        where = self.partition(key) if partition is None else partition
        return self.tables[table].read(where, key)

    def _offset(self, partition: int) -> int:
        self.offsets[partition] += 1
        return self.offsets[partition] * POSITIONS

    def _step(self, partition: int) -> Step:
        self._started[partition] = time.process_time()
        return Step(
            Tables(*(Rows(self.tables[name], partition) for name in TABLES)),
            self.config,
            self.settings,
            self.timers[partition],
            partition=partition,
            partitions=self.partitions,
            muting=lambda: self.muting,
            wall_ms=self.wall_ms,
            running=self.running,
        )

    def _done(self, partition: int, step: Step) -> None:
        out = step.settle()
        tables = step.tables
        for rows in (tables.incidents, tables.members, tables.nflog, tables.timers):
            rows.commit(self.sizes)  # type: ignore[arg-type]
        for incident_id, due_ms in out.due.items():
            self.timers[partition].index.set(incident_id, due_ms)
        self.running.difference_update(out.finished)
        if self.keep:
            self._collect(out)
        for key, value, to in out.events:
            self._queue[self.partition(key) if to is None else to].append((key, value))
        for incident_id, key, message in out.deliveries:
            if self.keep:
                self.sent.append(message)
            if self.answer:
                result = result_event(key, message, Delivery(True, 1))
                self._queue[self.partition(incident_id)].append((incident_id, result))
            else:
                self.running.add(key)
        self.cpu[partition] += time.process_time() - self._started.pop(partition)

    def _collect(self, out: Outputs) -> None:
        self.out.enriched.extend(out.enriched)
        self.out.examples.extend(out.examples)
        self.out.results.extend(out.results)
        self.out.facts.extend(out.facts)
        self.out.inhibitors.extend(out.inhibitors)


def config_of(document: dict[str, Any], *receivers: str) -> Config:
    """The snapshot of ``document`` with a webhook receiver for each name in ``receivers``."""
    sinks = [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in receivers]
    return from_document({**document, "receivers": sinks}, {})


def sim_alert(alert_id: str, incident_id: str, at_ms: int, **fields: Any) -> Alert:
    """A correlated alert as triage and correlate send it (defaults for what is not given)."""
    from app.records import ms_time

    alert: dict[str, Any] = {
        "id": alert_id,
        "tenant": "t",
        "source": "api",
        "status": "firing",
        "severity": "warning",
        "service": "db",
        "title": "Disk full",
        "description": "",
        "labels": {"alertname": "DiskFull"},
        "annotations": {},
        "starts_at": ms_time(at_ms),
        "ends_at": None,
        "received_at": ms_time(at_ms),
        "fingerprint": f"fp-{alert_id}",
        "group_key": None,
        "template_id": "t1",
        "template": "Disk full",
        "duplicate_count": 1,
        "incident_id": incident_id,
        "incident_open": True,
        "score": 0.8,
        "decision": "notify",
        "reasons": ["test"],
        "seq": 1,
        "features": {"kind": "DiskFull", "severity": "warning"},
    }
    alert.update(fields)
    return alert  # type: ignore[return-value]
