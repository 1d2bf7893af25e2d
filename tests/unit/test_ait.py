"""The AIT replay (``make eval-ait``): Alertmanager's baseline, the scores, the paging rule, and
the rules it measures on real attack streams — phases keep two tools' bursts on one host apart,
and a kind marked noise elsewhere still pages where it is new."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ait import alertmanager, stream
from app.ait.notifier import GROUP_INTERVAL_MS, Notifier
from app.ait.replay import Operator, replay
from app.ait.score import Notification, grouping, notifications

HOUR = 3_600_000


def _event(index: int, at_ms: int, short: str, host: str, step: str | None = None) -> stream.Event:
    return stream.Event(
        index, at_ms, f"Wazuh: rule {short}", f"10.0.0.{len(host)}", host, short, step
    )


def _stream(rows: list[tuple[int, str, str, str | None]]) -> list[stream.Event]:
    rows = sorted(rows, key=lambda row: row[0])
    return [_event(i, at, short, host, step) for i, (at, short, host, step) in enumerate(rows)]


def test_alertmanager_notifies_after_group_wait_repeats_and_resolves() -> None:
    rows = [(t * 60_000, "R", "web", None) for t in range(0, 300)]  # five hours, every minute
    rows += [(400 * 60_000, "R", "web", "scan")]  # quiet for 100 minutes, then once more
    sent, groups = alertmanager.replay(_stream(rows))
    kinds = [(n.at_ms // 60_000, n.kind) for n in sent]
    assert kinds[0] == (0, "firing") and (240, "repeat") in kinds  # 30 s, then 4 h later
    assert (305, "resolved") in kinds, "5 minutes after the last post, at the next flush"
    assert kinds[-2:] == [(400, "firing"), (405, "resolved")]
    assert groups[0] == groups[299] != groups[300], "a new group after the old one emptied"
    assert sent[-2].events == (300,) and sent[0].events == (0,)


def test_grouping_scores_count_pairs_of_attack_alerts_only() -> None:
    truth = ["dirb#0"] * 3 + [None] * 2 + ["wpscan#0"] * 2
    together = ["i1"] * 7
    apart = ["i1", "i1", "i1", "n", "n", "i2", "i2"]
    assert grouping(truth, apart)["ari"] == 1.0 and grouping(truth, apart)["pair_f1"] == 1.0
    merged = grouping(truth, together)
    assert merged["pair_recall"] == 1.0 and merged["pair_precision"] == pytest.approx(4 / 10)
    assert merged["incidents_per_episode"] == 1.0 and merged["attack_incidents"] == 1


def test_a_step_reaches_a_person_only_through_a_page() -> None:
    steps = [None, "scan", "dirb"]
    sent = [
        Notification(0, "firing", (0,)),
        Notification(10, "update", (1,)),
        Notification(20, "resolved", (2,)),
    ]
    figures = notifications(sent, steps, 300, (0, 20))
    assert figures.steps == {"dirb": 0, "scan": 1}
    assert figures.paging["recall"] == 0.5 and figures.paging["reduction"] == 100.0
    assert figures.paging["precision"] == 0.6667


def test_paging_updates_at_most_each_group_interval_and_only_for_paging_alerts() -> None:
    notifier = Notifier()

    def alert(name: str, at: int, decision: str = "notify", status: str = "firing") -> None:
        notifier.alert({"id": name, "incident_id": "i", "status": status, "decision": decision}, at)

    alert("a", 0)
    alert("quiet", 1_000, decision="suppress")
    notifier.advance(GROUP_INTERVAL_MS)
    assert [t.kind for t in notifier.sent] == ["firing"], "a suppressed alert interrupts nobody"
    alert("b", 2_000)
    alert("c", 3_000)
    notifier.advance(GROUP_INTERVAL_MS)
    assert [(t.kind, t.alerts) for t in notifier.sent[1:]] == [("update", ("b", "c"))]
    for name in ("a", "b", "c", "quiet"):
        alert(name, GROUP_INTERVAL_MS + 1, status="resolved")
    assert notifier.sent[-1].kind == "resolved"
    alert("d", GROUP_INTERVAL_MS + 2)
    assert notifier.sent[-1].kind == "firing", "a paging alert after the resolve pages afresh"
    notifier.alert({"id": "e", "incident_id": "j", "status": "firing", "decision": "notify"}, 9)
    notifier.merge("j", "i", GROUP_INTERVAL_MS + 3)
    assert notifier.sent[-1].incident == "j" and notifier.sent[-1].kind == "resolved"


def test_two_tools_on_one_host_are_two_incidents_and_a_kind_new_there_pages() -> None:
    """Two days of noise — twelve rules on host mail, rule N on host web, each marked noise when
    it pages — then an attack on web, every event an alert of its own: a burst of rule X, 10 s of
    silence, a burst of rule Y (another tool). Y was noise on mail; on web it is news."""
    rows: list[tuple[int, str, str, str | None]] = []
    for rule in ("N", *(f"Y{k}" for k in range(12))):
        host = "web" if rule == "N" else "mail"
        rows += [(m * 600_000 + len(rule), rule, host, None) for m in range(6 * 48)]
    start = 48 * HOUR + 30_000
    rows += [(start + n * 20, "X", "web", "dirb") for n in range(400)]  # 8 s of 50 a second
    second = start + 400 * 20 + 10_000
    rows += [(second + n * 20, "Y3", "web", "wpscan") for n in range(400)]
    events = _stream(rows)
    result = replay(events, "events", Operator(delay_ms=60_000))
    truth = stream.true_incidents(events)
    assert grouping(truth, result.incident_of)["ari"] == 1.0
    figures = notifications(
        result.notifications, [e.step for e in events], len(events), (0, events[-1].at_ms)
    )
    assert figures.steps["dirb"] > 0 and figures.steps["wpscan"] > 0
    assert result.learner is not None and result.learner.kinds["Y3"]["noise"] >= 1, (
        "Y3 was marked noise (on mail) before the attack, and still paged on web"
    )


SCENARIOS = stream.scenarios()
ATTACK_HOURS = {"santos": (83.2, 84.2), "wardbeck": (108.1, 109.1)}


@pytest.mark.skipif(not SCENARIOS, reason=f"the AIT scenarios are not in {stream.DATA}")
@pytest.mark.parametrize("name", sorted(ATTACK_HOURS))
def test_the_attack_hour_of_each_dev_scenario_is_grouped_by_step(name: str) -> None:
    """A floor on real data (the hour of each scenario where most of its attack steps run, every
    IDS alert an alert of its own): ``make eval-ait`` gives the whole scenarios' figures."""
    events = stream.read(Path(SCENARIOS[name]))
    first = events[0].at_ms
    low, high = (first + int(h * HOUR) for h in ATTACK_HOURS[name])
    window = [e for e in events if low <= e.at_ms < high]
    window = [stream.Event(i, *astuple(e)[1:]) for i, e in enumerate(window)]
    result = replay(window, "events", Operator(learn=False))
    assert grouping(stream.true_incidents(window), result.incident_of)["ari"] >= 0.9


def astuple(event: stream.Event) -> tuple[object, ...]:
    return (event.index, event.at_ms, event.name, event.ip, event.host, event.short, event.step)
