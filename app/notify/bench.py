"""Micro-benchmark of the notify stage's decisions: µs per alert, no Kafka (``make bench-unit``).

Runs :class:`~app.notify.simulate.Simulation` — the step the agent runs per message, rows
committed as JSON as the runtime commits them — over three workloads, in batches of 256 alerts
per partition as the runtime hands them over:

- ``new``: every alert new, ten per incident (the incident opens, pages, is updated);
- ``storm``: every alert into one incident (its head folds them all);
- ``spread``: ``storm``'s alerts placed over 8 partitions (their groups'), each kept in the
  storm's part there: the work in the storm incident's partition, and in the 7 others;
- ``resolve``: the alerts of ``new`` resolving;
- ``inhibit``: ``new`` under Alertmanager's usual inhibition rule, every other alert critical
  (a source that stays firing: 10,000 of them by the end), the rest warnings it may mute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.notify.simulate import Simulation, config_of, sim_alert

ALERTS = 20_000
BATCH = 256
CONFIG = config_of({"routes": {"receiver": "ops", "group_interval": "1m"}}, "ops")
INHIBITING = config_of(
    {
        "routes": {"receiver": "ops", "group_interval": "1m"},
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["alertname", "cluster"],
            }
        ],
    },
    "ops",
)


def _new(n: int) -> tuple[str, dict]:  # type: ignore[type-arg]
    incident = f"i{n // 10}"
    return incident, sim_alert(f"a{n}", incident, n * 10)  # type: ignore[return-value]


def _storm(n: int) -> tuple[str, dict]:  # type: ignore[type-arg]
    return "storm", sim_alert(f"s{n}", "storm", n * 10)  # type: ignore[return-value]


def _critical_or_not(n: int) -> tuple[str, dict]:  # type: ignore[type-arg]
    incident, alert = _new(n)
    labels = {"alertname": f"A{n % 50}", "cluster": f"c{n % 7}", "instance": f"h{n}"}
    return incident, {**alert, "severity": "critical" if n % 2 else "warning", "labels": labels}


def _resolved(n: int) -> tuple[str, dict]:  # type: ignore[type-arg]
    from app.records import ms_time

    incident, alert = _new(n)
    at = ms_time(ALERTS * 10 + n)
    return incident, {**alert, "status": "resolved", "ends_at": at, "seq": 2}


def measure(sim: Simulation, make: Callable[[int], tuple[str, dict]]) -> float:  # type: ignore[type-arg]
    """CPU µs per alert to decide ``ALERTS`` alerts made by ``make``, in batches of ``BATCH``
    per partition (made before each is timed; CPU time: the figure holds on a busy machine)."""
    size = BATCH * sim.partitions
    spent = 0.0
    for start in range(0, ALERTS, size):
        batch = [make(n) for n in range(start, min(start + size, ALERTS))]
        started = time.process_time()
        sim.alerts(batch)  # type: ignore[arg-type]
        spent += time.process_time() - started
    return spent / ALERTS * 1e6


def spread(partitions: int = 8) -> tuple[float, float]:
    """CPU µs per alert of ``storm`` with its alerts placed over ``partitions`` partitions in
    turn, ``BATCH`` at a time: in the storm incident's partition, and in all the others."""
    sim = Simulation(CONFIG, partitions=partitions, keep=False)
    for start in range(0, ALERTS, BATCH):
        batch = [_storm(n) for n in range(start, min(start + BATCH, ALERTS))]
        sim.alerts(batch, at=start // BATCH % partitions)  # type: ignore[arg-type]
    home = sim.cpu[sim.partition("storm")]
    return home / ALERTS * 1e6, (sum(sim.cpu) - home) / ALERTS * 1e6


def main() -> None:
    """Print µs per alert for each workload."""
    sim = Simulation(CONFIG, keep=False)
    figures = {"new": measure(sim, _new), "resolve": measure(sim, _resolved)}
    figures["storm"] = measure(Simulation(CONFIG, keep=False), _storm)
    figures["inhibit"] = measure(Simulation(INHIBITING, keep=False), _critical_or_not)
    for name, figure in figures.items():
        print(f"notify {name:8} {figure:7.1f} µs/alert ({ALERTS} alerts)")
    home, others = spread()
    print(f"notify spread   {home:7.1f} µs/alert in the storm's partition, {others:.1f} elsewhere")


if __name__ == "__main__":
    main()
