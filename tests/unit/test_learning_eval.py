"""``alertflow eval``: the replay learns from simulated feedback, and the command's outputs."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.learning.evaluation import curve, replay, summary
from app.learning.streams import Scored, Simulated, recorded_stream
from app.records import format_time
from tests.harness import REPO

START = datetime(2026, 2, 2, tzinfo=UTC)
KINDS = (  # alertname, service, severity, actionable
    ("DiskAlmostFull", "web", "warning", False),
    ("CertificateExpiry", "edge", "info", False),
    ("NightlyJobSlow", "batch", "warning", False),
    ("CheckoutErrors", "checkout", "error", True),
    ("DatabaseDown", "db", "critical", True),
)


def _stream(days: int, seed: int = 3) -> list[tuple[dict[str, Any], str, bool]]:
    """A small stream of our own: five kinds, each its own incident, some resolving soon."""
    rng = random.Random(seed)
    out = []
    for n in range(days * 24):
        name, service, severity, actionable = KINDS[rng.randrange(len(KINDS))]
        starts = START + timedelta(hours=n, minutes=rng.randrange(50))
        alert = {
            "id": f"a{n}",
            "tenant": "t",
            "source": "alertmanager",
            "status": "firing",
            "severity": severity,
            "service": service,
            "title": f"{name} on {service}-{n % 7}",
            "description": "",
            "labels": {"alertname": name, "instance": f"{service}-{n % 7}"},
            "template_id": None,
            "fingerprint": f"f{n}",
            "incident_id": f"i{n}",
            "starts_at": format_time(starts),
            "ends_at": None,
            "reasons": [],
        }
        out.append((alert, f"true-{n}", actionable))
        ends = starts + timedelta(minutes=rng.choice((5, 40)))
        resolved = {**alert, "status": "resolved", "ends_at": format_time(ends)}
        out.append((resolved, f"true-{n}", actionable))
    out.sort(key=lambda entry: entry[0]["ends_at"] or entry[0]["starts_at"])
    return out


def test_feedback_makes_pages_precise_and_every_real_incident_still_pages() -> None:
    result = replay(Scored(_stream(days=6)))
    figures = summary(result)
    assert figures["real_incidents_paged"] == figures["real_incidents"] > 0
    first, second = figures["page_precision_first_half"], figures["page_precision_second_half"]
    assert second > first, (first, second)
    assert second >= 0.95
    rows = curve(result)
    assert len(rows) == 6
    assert rows[0]["page_precision"] < 1.0, "noise paged while the model knew nothing"
    assert all(row["page_precision"] == 1.0 for row in rows[1:]), "then it stopped"
    held_back = figures["decisions"]["digest"] + figures["decisions"]["suppress"]
    assert held_back > figures["alerts"] / 3
    assert figures["messages"] < figures["inputs"]


def test_recorded_stream_replays_with_its_own_feedback() -> None:
    stream = _stream(days=3)
    firing = [alert for alert, _, _ in stream if alert["status"] == "firing"]
    truth = {alert["id"]: actionable for alert, _, actionable in stream}
    feedback = [
        json.dumps(
            {
                "alert_id": alert["id"],
                "kind": "ack" if truth[alert["id"]] else "resolve",
                "actionable": truth[alert["id"]],
                "by": "ann",
                "at": format_time(
                    datetime.fromisoformat(alert["starts_at"]) + timedelta(minutes=3)
                ),
            }
        )
        for alert in firing
    ]
    enriched = [json.dumps(alert) for alert, _, _ in stream]
    alerts, records = recorded_stream(enriched, feedback)
    figures = summary(replay(Scored(alerts), recorded=records))
    assert figures["feedback"] == len(firing) and figures["labelled_alerts"] == len(firing)
    by_source = figures["models"]["t"]["samples_by_source"]
    assert by_source["ack"] + by_source["resolve"] == len(firing)
    assert figures["real_incidents_paged"] == figures["real_incidents"]


def test_the_simulated_stream_learns_through_the_pipelines_own_models() -> None:
    source = Simulated(seed=2, days=1, tenants=("acme",))
    result = replay(source)
    figures = summary(result)
    assert figures["real_incidents_paged"] == figures["real_incidents"] > 0
    assert set(result.learners) == {"acme"}, "the pipeline's triage models learned"
    by_source = figures["models"]["acme"]["samples_by_source"]
    assert by_source["ack"] + by_source["resolve"] == figures["feedback"] > 0
    assert source.pipeline.into, "tenant-wide merges were applied"
    merged = set(source.pipeline.into)
    assert not merged & {s.incident_id for s in result.scored}, "decided where merges put them"


@pytest.mark.timeout(120)
def test_eval_command_prints_the_curve_and_writes_the_plot(tmp_path: Path) -> None:
    plot = tmp_path / "curve.png"
    done = subprocess.run(
        [str(REPO / ".venv/bin/alertflow"), "eval", "--days", "2", "--plot", str(plot), "--json"],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    figures = json.loads(done.stdout)
    assert len(figures["curve"]) == 2 and figures["messages"] < figures["alerts"]
    assert figures["real_incidents_paged"] == figures["real_incidents"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
