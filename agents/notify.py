"""Stage 6: fan-out — the incident is updated, the alert published, people notified.

The agent reads ``alerts.scored`` and ``notify.events`` (acknowledgements re-keyed by
:mod:`agents.incident_feedback`, delivery results, ticks), all keyed by incident id, so one
worker owns an incident at a time. Per alert: silences and inhibition may mute it (it still
goes to ``alerts.enriched``, decision ``suppress`` and the reason); the incident is folded;
:func:`app.dispatch.plan` says which notifications are due in event time. Each one is written
``in_flight`` to the notification log (:mod:`app.nflog`) before a task delivers it; the task's
result comes back through ``notify.events`` and is recorded there, so a slow receiver never
holds up the partition and a crash never loses a send (see the README for the guarantees).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any, NotRequired, TypedDict

import faust

from agents.stage import origin, run_stage
from app import metrics, nflog, retention, topics
from app.config import Config as NotifyConfig
from app.config import Reloader, group_labels, match
from app.dispatch import Send, plan
from app.due_index import DueIndex
from app.faust_app import app, settings
from app.inhibition import inhibited_by, is_source
from app.records import Alert, epoch_ms, utc_now
from app.silences import reason as silence_reason
from app.silences import silencing
from app.sinks.base import Delivery, deliver
from tables.incidents import incidents as _incidents_table
from tables.inhibitors import inhibitors as inhibitors_table
from tables.nflog import nflog as nflog_table
from tables.silences import silences as silences_table
from tables.timers import timers as _timers_table
from tables.write_behind import WriteBehind

incidents_table = WriteBehind(_incidents_table)
timers_table = WriteBehind(_timers_table)

log = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class Incident(TypedDict):
    """What the incidents table keeps per incident."""

    id: str
    tenant: str
    status: str
    title: str
    severity: str
    score: float
    alerts: dict[str, str]  # alert id → status
    services: list[str]
    templates: list[str]
    first_seen: str
    last_seen: str
    paging: bool  # at least one alert decided notify (and was not muted)
    reasons: list[str]
    notified: dict[str, str]  # "<receiver>:<state>" → when its delivery succeeded
    labels: dict[str, str]  # what routing sees: the labels of the alert that opened it
    muted: dict[str, str]  # alert id → why it is muted (silence, inhibition)
    paged_ms: int | None  # event time it started to page
    acknowledged: dict[str, Any] | None
    told: dict[str, Any]  # receiver → what it was last told (app.dispatch)
    escalated: int  # escalation levels reached
    merged_into: NotRequired[dict[str, str]]  # alert id → the storm incident it moved into
    logged: NotRequired[list[str]]  # its nflog keys (app.retention)
    prune_ms: NotRequired[int | None]  # resolved: event time from which its nflog entries go
    threads: NotRequired[dict[str, str]]  # receiver → its first message (Slack ts): the thread


def update_incident(
    incident: Incident | None, alert: Alert, labels: dict[str, str], muted: str | None
) -> Incident:
    """Fold one alert (already muted or not) into its incident.

    >>> a = {"id": "a1", "incident_id": "i1", "tenant": "t", "status": "firing",
    ...      "title": "Disk full", "severity": "warning", "score": 0.5, "service": "db",
    ...      "template": "Disk full", "starts_at": "2026-01-01T00:00:00Z", "ends_at": None,
    ...      "decision": "notify", "reasons": []}
    >>> i = update_incident(None, a, {}, None)
    >>> i["status"], i["paging"], i["alerts"], i["paged_ms"]
    ('firing', True, {'a1': 'firing'}, 1767225600000)
    >>> update_incident(i, {**a, "status": "resolved"}, {}, None)["status"]
    'resolved'
    >>> update_incident(None, {**a, "decision": "suppress"}, {}, "silenced by s1")["muted"]
    {'a1': 'silenced by s1'}
    >>> moved = without_alert(i, "a1", "storm")
    >>> update_incident(moved, a, {}, None) == moved  # a late message of a moved alert
    True
    """
    if incident is not None and alert["id"] in incident.get("merged_into", {}):
        return incident  # it lives in the storm incident now
    if incident is None:
        incident = {
            "id": alert["incident_id"],
            "tenant": alert["tenant"],
            "status": "firing",
            "title": alert["title"],
            "severity": alert["severity"],
            "score": 0.0,
            "alerts": {},
            "services": [],
            "templates": [],
            "first_seen": alert["starts_at"],
            "last_seen": alert["starts_at"],
            "paging": False,
            "reasons": [],
            "notified": {},
            "labels": labels,
            "muted": {},
            "paged_ms": None,
            "acknowledged": None,
            "told": {},
            "escalated": 0,
        }
    alerts = {**incident["alerts"], alert["id"]: alert["status"]}
    muted_now = {k: v for k, v in incident["muted"].items() if k != alert["id"]}
    if muted is not None:
        muted_now[alert["id"]] = muted
    severity = max(incident["severity"], alert["severity"], key=lambda s: SEVERITY_RANK.get(s, 1))
    opened = alert.get("incident_open", True) is not False  # min_alerts of the route reached
    paging = incident["paging"] or (alert["decision"] == "notify" and opened)
    paged_ms = incident["paged_ms"]
    if paging and paged_ms is None:
        paged_ms = event_ms(alert)
    return {
        **incident,
        "alerts": alerts,
        "status": "firing" if "firing" in alerts.values() else "resolved",
        "severity": severity,
        "score": max(incident["score"], alert["score"] or 0.0),
        "services": _added(incident["services"], alert["service"]),
        "templates": _added(incident["templates"], alert["template"]),
        "last_seen": max(incident["last_seen"], alert["starts_at"]),
        "paging": paging,
        "paged_ms": paged_ms,
        "muted": muted_now,
        "reasons": alert["reasons"],
    }


def moved_event(alert: Alert) -> dict[str, Any] | None:
    """The ``notify.events`` record, keyed by the old incident, that takes a merged alert out.

    >>> moved_event({"id": "a1", "incident_id": "storm", "merged_from": "i1",
    ...              "status": "firing", "starts_at": "1970-01-01T00:00:01Z"})
    {'kind': 'moved', 'incident_id': 'i1', 'alert_id': 'a1', 'into': 'storm', 'at_ms': 1000}
    >>> moved_event({"id": "a1", "incident_id": "i1", "status": "firing"}) is None
    True
    """
    old = alert.get("merged_from")
    if not old or old == alert["incident_id"]:
        return None
    return {
        "kind": "moved",
        "incident_id": old,
        "alert_id": alert["id"],
        "into": alert["incident_id"],
        "at_ms": event_ms(alert),
    }


def without_alert(incident: Incident, alert_id: str, into: str) -> Incident:
    """The incident after one of its alerts moved into the storm incident ``into``.

    It resolves once no firing alert is left, so receivers it paged hear ``resolved``.

    >>> i = {"alerts": {"a1": "firing", "a2": "resolved"}, "muted": {"a1": "silenced"},
    ...      "status": "firing", "reasons": ["r"]}
    >>> o = without_alert(i, "a1", "storm")
    >>> o["alerts"], o["muted"], o["status"], o["merged_into"]
    ({'a2': 'resolved'}, {}, 'resolved', {'a1': 'storm'})
    >>> o["reasons"]
    ['alert a1 was merged into incident storm']
    >>> without_alert(o, "a1", "storm") is o
    True
    """
    if alert_id not in incident["alerts"]:
        return incident
    alerts = {k: v for k, v in incident["alerts"].items() if k != alert_id}
    return {
        **incident,
        "alerts": alerts,
        "muted": {k: v for k, v in incident["muted"].items() if k != alert_id},
        "status": "firing" if "firing" in alerts.values() else "resolved",
        "merged_into": {**incident.get("merged_into", {}), alert_id: into},
        "reasons": [f"alert {alert_id} was merged into incident {into}"],
    }


def prune_due(incident: Incident, resolved_ms: int, config: NotifyConfig) -> int | None:
    """When a resolved incident's log entries may go (kept once set); ``None`` while firing.

    ``resolved_ms`` is the event time of what resolved it; the incident's routes give the
    longest ``repeat_interval``.

    >>> from app.config import Route
    >>> config = NotifyConfig(route=Route(repeat_interval_ms=4 * 3_600_000), receivers={})
    >>> i = {"status": "resolved", "labels": {}}
    >>> prune_due(i, 0, config) == 28 * 3_600_000
    True
    >>> prune_due({**i, "prune_ms": 5}, 0, config), prune_due({**i, "status": "firing"}, 0, config)
    (5, None)
    """
    if incident["status"] != "resolved":
        return None
    if incident.get("prune_ms") is not None:
        return incident["prune_ms"]
    routes = match(config.route, incident["labels"]) or [config.route]
    repeat = max(route.repeat_interval_ms or 0 for route in routes)
    return retention.keep_until(resolved_ms, repeat)


def mute(alert: Alert, why: str | None) -> Alert:
    """The alert as published when a silence or an inhibition mutes it.

    >>> mute({"decision": "notify", "reasons": ["r"]}, "silenced by s1")
    {'decision': 'suppress', 'reasons': ['r', 'silenced by s1']}
    """
    if why is None:
        return alert
    return {**alert, "decision": "suppress", "reasons": [*alert["reasons"], why]}


def event_ms(alert: Alert) -> int:
    """The alert's event time: when it resolved, else when it started.

    >>> event_ms({"status": "resolved", "starts_at": "1970-01-01T00:00:01Z",
    ...           "ends_at": "1970-01-01T00:00:02Z"})
    2000
    """
    if alert["status"] == "resolved" and alert.get("ends_at"):
        return epoch_ms(alert["ends_at"])  # type: ignore[arg-type]
    return epoch_ms(alert["starts_at"])


def notification(incident: Incident, send: Send, notification_id: str) -> dict[str, Any]:
    """The notification of CONTRACT.md for an incident, with what changed since the last one."""
    return {
        "incident_id": incident["id"],
        "tenant": incident["tenant"],
        "status": send.change
        if send.change in ("resolved", "acknowledged")
        else incident["status"],
        "title": incident["title"],
        "severity": incident["severity"],
        "score": incident["score"],
        "alert_ids": list(incident["alerts"]),
        "alert_count": len(incident["alerts"]),
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "reasons": incident["reasons"],
        "url": f"{settings.base_url}/api/v1/incidents/{incident['id']}",
        "notification_id": notification_id,
        "receiver": send.receiver,
        "state": send.state,
        "change": send.change,
        "added_alert_ids": list(send.added),
        "resolved_alert_ids": list(send.resolved),
        "muted_alert_ids": sorted(incident["muted"]),
        "escalation_level": send.level,
        "acknowledged": incident["acknowledged"] is not None,
        "merged_into": incident.get("merged_into", {}),
        **_thread(incident, send.receiver),
        "labels": incident["labels"],  # what routing saw; action receivers template from it
    }


def _thread(incident: Incident, receiver: str) -> dict[str, str]:
    """``thread``: the receiver's first message about the incident (a Slack bot replies in it)."""
    thread = incident.get("threads", {}).get(receiver)
    return {"thread": thread} if thread else {}


def _added(items: list[str], item: str | None) -> list[str]:
    return items if not item or item in items else [*items, item]


CONFIG = Reloader()  # ALERTFLOW_CONFIG / ALERTFLOW_ALERTMANAGER_CONFIG (raises ConfigError)

_input = app.topic(
    topics.scored.get_topic_name(),
    topics.notify_events.get_topic_name(),
    key_type=str,
    value_serializer="orjson",
)
_clock: dict[int, int] = {}  # partition → the latest event time seen (in memory; see README)
_due: dict[int, DueIndex] = {}  # partition → due times of its timers (rebuilt after assignment)
_running: set[str] = set()  # nflog keys this process is delivering right now
_limits: dict[str, asyncio.Semaphore] = {}
_tasks: set[asyncio.Task[None]] = set()


async def _handle(incident_id: str, value: dict[str, Any]) -> None:
    where = origin()
    partition = where.partition
    config = CONFIG.current
    if where.topic == topics.scored.get_topic_name():
        await _on_alert(incident_id, value, partition, config)
    elif value.get("kind") in ("ack", "resolve"):
        await _on_feedback(incident_id, value, partition, config)
    elif value.get("kind") == "moved":
        await _on_moved(incident_id, value, partition, config)
    elif value.get("kind") == "delivered":
        await _on_delivered(incident_id, value, partition, where.position)
    elif value.get("kind") == "tick":
        now = _advance(partition, int(value["at_ms"]))
        await _wake(partition, now, config, orphans=True)
    else:
        raise ValueError(f"notify.events: unknown kind {value.get('kind')!r}")


async def _on_alert(incident_id: str, alert: Alert, partition: int, config: NotifyConfig) -> None:
    at = event_ms(alert)
    now = _advance(partition, at)
    labels = group_labels(alert)
    why = _muted_by(alert["id"], labels, at, config)
    if why is not None:
        metrics.suppressions_processed.labels(why.split(" ", 1)[0]).inc()
    alert = mute(alert, why)
    await _publish(alert)
    _track_inhibitor(alert, labels, config)
    incident = update_incident(incidents_table.get(incident_id), alert, labels, why)
    await _decide(incident, partition, now, config, at_ms=at)
    if (moved := moved_event(alert)) is not None:  # the old incident is another partition's
        await topics.notify_events.send(key=moved["incident_id"], value=moved)
    await _wake(partition, now, config, orphans=False)


async def _on_moved(
    incident_id: str, moved: dict[str, Any], partition: int, config: NotifyConfig
) -> None:
    now = _advance(partition, int(moved["at_ms"]))
    incident = incidents_table.get(incident_id)
    if incident is None or moved["alert_id"] not in incident["alerts"]:
        return  # moved already (a replay or a later update of the alert)
    incident = without_alert(incident, moved["alert_id"], moved["into"])
    await _decide(incident, partition, now, config, at_ms=int(moved["at_ms"]))


async def _on_feedback(
    incident_id: str, feedback: dict[str, Any], partition: int, config: NotifyConfig
) -> None:
    incident = incidents_table.get(incident_id)
    if incident is None or incident["acknowledged"] is not None:
        return
    incident = {**incident, "acknowledged": {k: feedback.get(k) for k in ("kind", "by", "at")}}
    now = max(_clock.get(partition, 0), incident["paged_ms"] or 0)  # the clock after a restart
    await _decide(incident, partition, now, config)


async def _on_delivered(
    incident_id: str, result: dict[str, Any], partition: int, offset: int
) -> None:
    key = result["key"]
    entry = nflog_table.get(key)
    if entry is None:
        return
    replay = entry.get("offset") is not None and offset <= entry["offset"]
    done = nflog.finished(entry, result["notification_id"], result["ok"], result["attempts"])
    if done is entry and not replay:
        return  # a second result for one send: the first one counted
    if not replay:
        nflog_table[key] = {**done, "offset": offset}
        _running.discard(key)
        timer = timers_table.get(incident_id)
        if timer is not None:
            _save_timer(incident_id, {**timer, "in_flight": _without(timer["in_flight"], key)})
        incident = incidents_table.get(incident_id)
        if incident is not None and result["ok"]:
            notified = {
                **incident["notified"],
                f"{result['receiver']}:{result['state']}": utc_now(),
            }
            threads = incident.get("threads", {})
            if result.get("reference") and result["receiver"] not in threads:
                threads = {**threads, result["receiver"]: result["reference"]}
            incidents_table[incident_id] = {**incident, "notified": notified, "threads": threads}
        metrics.count_notification(result["receiver"], result["outcome"])
    record = {
        "receiver": result["receiver"],
        "state": result["state"],
        "notification_id": result["notification_id"],
        "notification": entry["notification"],
        "attempts": result["attempts"],
        "outcome": result["outcome"],
        "at": result["at"],
        "error": result["error"],
    }
    out = topics.notifications_sent if result["ok"] else topics.notifications_failed
    await out.send(key=incident_id, value=record)
    incident = incidents_table.get(incident_id)
    if incident is not None and _expired(incident, partition) and not replay:
        del nflog_table[key]  # it was in flight when its incident's log was pruned


async def _decide(
    incident: Incident,
    partition: int,
    now: int,
    config: NotifyConfig,
    *,
    at_ms: int | None = None,
) -> None:
    """Plan the incident at ``now``, log and start its sends, keep its timer.

    ``at_ms`` is the event time of what changed the incident (default ``now``).
    """
    incident, sends, due = plan(incident, config, now)
    timer = timers_table.get(incident["id"]) or {"partition": partition, "in_flight": []}
    in_flight = list(timer["in_flight"])
    logged = retention.log_keys(incident)
    for send in sends:
        key = nflog.key(incident["id"], send.receiver, send.state)
        if nflog_table.get(key) is not None:
            continue  # logged already: sent, failed, or in flight (a replay)
        message = notification(incident, send, nflog.notification_id(*key.split("|")))
        nflog_table[key] = nflog.started(message, _wall_ms())
        in_flight.append(key)
        logged = _added(logged, key)
        _start(incident["id"], key, message, config)
    prune_ms = prune_due(incident, now if at_ms is None else at_ms, config)
    if prune_ms is not None and incident.get("prune_ms") is None:
        _schedule_prune(partition, incident["id"], prune_ms)
    incident = {**incident, "logged": logged, "prune_ms": prune_ms}
    incidents_table[incident["id"]] = incident
    _save_timer(incident["id"], {"partition": partition, "due_ms": due, "in_flight": in_flight})
    _resume_orphans(incident["id"], in_flight, config)


async def _wake(partition: int, now: int, config: NotifyConfig, *, orphans: bool) -> None:
    """Re-plan the incidents of ``partition`` whose timer is due at event time ``now``.

    Due times come from an in-memory index (one table scan per partition after an
    assignment), so an alert costs O(log n), not a read of every timer; only a tick
    (``orphans``) scans the partition's timers for sends a dead worker left in flight.
    """
    woken = set()
    for incident_id in _due_index(partition).pop_due(now):
        incident = incidents_table.get(incident_id)
        if incident is None:  # nothing can be due for an incident the table does not hold
            _drop_timer(incident_id)
            continue
        woken.add(incident_id)
        await _decide(incident, partition, now, config)
    if orphans:
        for incident_id, timer in _partition_timers(partition):
            if incident_id in woken:
                continue
            if incidents_table.get(incident_id) is None:
                _drop_timer(incident_id)
                continue
            live = [k for k in timer["in_flight"] if _in_flight(k)]
            if live != timer["in_flight"]:  # finished or pruned entries: nothing to resume
                _save_timer(incident_id, {**timer, "in_flight": live})
            _resume_orphans(incident_id, live, config)
    _prune(partition, now)


def _partition_timers(partition: int) -> list[tuple[str, dict[str, Any]]]:
    """Every timer row of ``partition`` (a scan: on ticks and index rebuilds only)."""
    rows = []
    for raw_key, timer in list(timers_table.items()):
        if timer["partition"] == partition:
            rows.append((raw_key.decode() if isinstance(raw_key, bytes) else raw_key, timer))
    return rows


def _due_index(partition: int) -> DueIndex:
    """The partition's due times, rebuilt from the table the first time after an assignment."""
    if partition not in _due:
        index = _due[partition] = DueIndex()
        for incident_id, timer in _partition_timers(partition):
            index.set(incident_id, timer.get("due_ms"))
    return _due[partition]


def _schedule_prune(partition: int, incident_id: str, due_ms: int) -> None:
    """List the incident in its hour's bucket and the hour in the partition's schedule."""
    hour = retention.bucket_of(due_ms)
    bucket = retention.bucket_key(partition, hour)
    nflog_table[bucket] = _added(nflog_table.get(bucket) or [], incident_id)
    schedule = retention.schedule_key(partition)
    nflog_table[schedule] = retention.scheduled(nflog_table.get(schedule) or [], hour)


def _prune(partition: int, now: int) -> None:
    """Drop the log entries and timers of the partition's incidents due at event time ``now``."""
    schedule = retention.schedule_key(partition)
    ready, later = retention.due(nflog_table.get(schedule) or [], now)
    if not ready:
        return
    for hour in ready:
        bucket = retention.bucket_key(partition, hour)
        incident_ids = nflog_table.get(bucket)
        for incident_id in incident_ids or []:
            incident = incidents_table.get(incident_id)
            if incident is not None and _expired(incident, partition):
                _forget_log(incident)  # unless it fired again: then its next resolve lists it
        if incident_ids is not None:
            del nflog_table[bucket]
    if later:
        nflog_table[schedule] = later
    else:
        del nflog_table[schedule]


def _forget_log(incident: Incident) -> None:
    """Delete the incident's finished log entries (one in flight goes when its result is in)."""
    kept = []
    for key in retention.log_keys(incident):
        entry = nflog_table.get(key)
        if entry is not None and entry["status"] == "in_flight":
            kept.append(key)
        elif entry is not None:
            del nflog_table[key]
    if not kept:
        _drop_timer(incident["id"])
    incidents_table[incident["id"]] = {**incident, "logged": kept}


def _expired(incident: Incident, partition: int) -> bool:
    """Whether a resolved incident's log may go at the partition's event time."""
    prune_ms = incident.get("prune_ms")
    if incident["status"] != "resolved" or prune_ms is None:
        return False
    return prune_ms <= _clock.get(partition, 0)


def _in_flight(key: str) -> bool:
    entry = nflog_table.get(key)
    return entry is not None and entry["status"] == "in_flight"


def _resume_orphans(incident_id: str, keys: list[str], config: NotifyConfig) -> None:
    """Start again the sends a dead worker left in flight (same payload, same id)."""
    now = _wall_ms()
    for key in keys:
        entry = nflog_table.get(key)
        resend_after = config.options.resend_after_ms
        if entry is not None and nflog.orphaned(entry, key in _running, now, resend_after):
            log.warning("re-sending %s: in flight when its worker went away", key)
            nflog_table[key] = {**entry, "started_ms": now}
            _start(incident_id, key, entry["notification"], config)


def _start(incident_id: str, key: str, message: dict[str, Any], config: NotifyConfig) -> None:
    _running.add(key)
    task = app.loop.create_task(_deliver(incident_id, key, message, config))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _deliver(
    incident_id: str, key: str, message: dict[str, Any], config: NotifyConfig
) -> None:
    """Deliver one notification off the agent's loop and report the result to the agent."""
    receiver = message["receiver"]
    try:
        await app.producer.flush()  # the in-flight entry is durable before the request leaves
        sink = config.receivers.get(receiver)
        if receiver not in _limits:
            _limits[receiver] = asyncio.Semaphore(config.options.max_in_flight)
        async with _limits[receiver]:
            if sink is None:
                delivery = Delivery(False, 0, f"no receiver named {receiver!r}", "rejected")
            else:
                delivery = await deliver(sink, app.http_client, message)
        result = {
            "kind": "delivered",
            "key": key,
            "receiver": receiver,
            "state": message["state"],
            "notification_id": message["notification_id"],
            "ok": delivery.ok,
            "attempts": delivery.attempts,
            "outcome": delivery.outcome,
            "error": delivery.error,
            "reference": delivery.reference,
            "at": utc_now(),
        }
        await topics.notify_events.send(key=incident_id, value=result)
    except Exception:
        log.exception("delivery of %s did not report back; it stays in flight", key)
        _running.discard(key)


def _muted_by(alert_id: str, labels: dict[str, str], at: int, config: NotifyConfig) -> str | None:
    found = silencing(silences_table.values(), labels, at)
    if found:
        return silence_reason(found[0])
    if config.inhibit_rules:
        sources = [(str(k), v["labels"]) for k, v in inhibitors_table.items()]
        source = inhibited_by(config.inhibit_rules, alert_id, labels, sources)
        if source is not None:
            return f"inhibited by alert {source}"
    return None


def _track_inhibitor(alert: Alert, labels: dict[str, str], config: NotifyConfig) -> None:
    if alert["status"] == "firing" and is_source(config.inhibit_rules, labels):
        inhibitors_table[alert["id"]] = {"labels": labels, "incident_id": alert["incident_id"]}
    elif alert["status"] == "resolved" and inhibitors_table.get(alert["id"]) is not None:
        del inhibitors_table[alert["id"]]


def _save_timer(incident_id: str, timer: dict[str, Any]) -> None:
    if timer.get("due_ms") is None and not timer["in_flight"]:
        _drop_timer(incident_id)
        return
    timers_table[incident_id] = timer
    if timer["partition"] in _due:
        _due[timer["partition"]].set(incident_id, timer.get("due_ms"))


def _drop_timer(incident_id: str) -> None:
    timer = timers_table.get(incident_id)
    if timer is None:
        return
    del timers_table[incident_id]
    if timer["partition"] in _due:
        _due[timer["partition"]].set(incident_id, None)


def _advance(partition: int, at: int) -> int:
    _clock[partition] = max(_clock.get(partition, 0), at)
    return _clock[partition]


def _without(keys: list[str], key: str) -> list[str]:
    return [k for k in keys if k != key]


def _wall_ms() -> int:
    return int(time.time() * 1000)


async def _publish(alert: Alert) -> None:
    await topics.enriched.send(
        key=alert["id"], value=alert, timestamp=epoch_ms(alert["starts_at"]) / 1000
    )
    metrics.count_enriched((alert,))


@app.agent(_input, concurrency=1)
async def notify(stream: faust.StreamT[Any]) -> None:
    """Publish enriched alerts, keep incidents, send notifications."""
    await run_stage("notify", stream, _handle)


@app.timer(interval=max(CONFIG.current.options.tick_interval_ms, 1000) / 1000)
async def tick() -> None:
    """Advance event time on this worker's partitions, so timers fire without new alerts."""
    if not CONFIG.current.options.tick_interval_ms:
        return
    name = topics.notify_events.get_topic_name()
    for tp in app.assignor.assigned_actives():
        if tp.topic == name:
            value = {"kind": "tick", "at_ms": _wall_ms()}
            await topics.notify_events.send(partition=tp.partition, value=value)


@app.timer(interval=CONFIG.current.options.reload_interval_ms / 1000)
async def reload_config() -> None:
    """Pick up a changed ALERTFLOW_CONFIG (routes, receivers, rules) atomically."""
    CONFIG.maybe_reload()


@app.task
async def reload_on_sighup() -> None:
    """``kill -HUP <worker>`` reloads the configuration at once."""
    app.loop.add_signal_handler(signal.SIGHUP, lambda: CONFIG.maybe_reload(force=True))


@app.on_partitions_assigned.connect
async def _forget_due_times(*_: Any, **__: Any) -> None:
    """After a rebalance the timers table is the truth: the indexes are rebuilt lazily."""
    _due.clear()
