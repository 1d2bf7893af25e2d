"""The ``notify.events`` records (key: incident id) and what each does in a :class:`Step`.

- ``{"kind": "ack"|"resolve", alert_id, incident_id, by, at, actionable, note, scope}``:
  feedback (:mod:`app.notify.feedback`). It is applied to the alert's member row where that row
  is (here, else the partition of its home incident, else every partition is asked:
  ``search``) and acts on the incident it names (or the member's, for a ``search``); ``only``
  says which half a forwarded record still has to do (``"member"`` or ``"incident"``).
- ``{"kind": "delivered", key, receiver, state, notification_id, ok, attempts, outcome, error,
  at}``: a delivery's result, recorded in the log and published on ``notifications.*``.
- ``{"kind": "tick", at_ms}``: event time passes on an idle partition; sends left in flight
  by a dead worker are looked at.
- ``{"kind": "merge", into, reason, at_ms}`` (from triage): this incident joins ``into``; keyed
  by a part, its incident did (told by that incident with the first contribution it forwarded):
  the part publishes its alerts' later changes in ``into`` (it still sends them to its own).
- ``{"kind": "judged"}`` (from triage): this new incident stands (no merge): its first
  page waits no longer.
- ``{"kind": "adopt", from, v, summary|change, reason?, at_ms?, hops?, storm?}``: a
  contribution of a merged incident to the one it joined (its summary, then each later change
  of its alerts), or of a part (:mod:`app.notify.parts`: the change of an alert kept in another
  partition; ``storm``: a storm hint named this incident), numbered ``v`` per source so each is
  applied once.
- ``{"kind": "republish", alert_id, into, from, why}`` (key: a part): the incident ``from``
  merged into ``into``: the alert, kept in this part, is published again in ``into``.
"""

from __future__ import annotations

from typing import Any, cast

from app.notify import incident as heads
from app.notify import nflog, retention
from app.notify.feedback import act, given, label_feedback
from app.notify.incident import Change, Incident
from app.notify.member import Member, take_feedback
from app.notify.merge import absorb, redirect
from app.notify.parts import is_part, whole
from app.notify.step import HEADS, Step, child_key
from app.notify.timers import without
from app.records import epoch_ms

MAX_HOPS = 16  # a contribution forwarded more often than this is a merge loop


def apply(step: Step, key: str, value: dict[str, Any], position: int) -> None:
    """Apply one ``notify.events`` record; raise ``ValueError`` for one of no known kind."""
    kind = value.get("kind")
    if kind in ("ack", "resolve"):
        feedback(step, key, value, position)
    elif kind == "delivered":
        delivered(step, key, value, position)
    elif kind == "tick":
        tick(step, int(value["at_ms"]))
    elif kind == "merge":
        merge(step, key, value, position)
    elif kind == "judged":
        judged(step, key)
    elif kind == "adopt":
        adopt(step, key, value)
    elif kind == "republish":
        _republish_member(step, value["alert_id"], value["into"], value["from"], value["why"])
    else:
        raise ValueError(f"notify.events: unknown kind {kind!r}")


def feedback(step: Step, incident_id: str, value: dict[str, Any], position: int) -> None:
    """Keep the feedback on its member, label the alert, act on the incident."""
    only = value.get("only")
    member = step.tables.members.get(value["alert_id"])
    if only != "incident":
        if member is not None:
            _on_member(step, member, value, position)
        elif not value.get("search"):
            _find_member(step, incident_id, value)
    if value.get("search") and member is None and only is None:
        step.out.unmatched += 1  # asked everywhere: no partition of this one holds the alert
    if only == "member" or (value.get("search") and member is None):
        return
    target = member["home"] if value.get("search") else incident_id
    found = {name: field for name, field in value.items() if name != "search"}
    _on_incident(step, target, {**found, "only": "incident"})  # found: it need not search on


def _on_member(step: Step, member: Any, value: dict[str, Any], position: int) -> None:
    alert_id = value["alert_id"]
    if position <= member["feedback_position"]:  # a replay: what it sent is sent again
        step.out.examples.extend(given(member))
        _tell_statistics(step, member, value)
        return
    updated = take_feedback(member, value, position)
    if updated is None:
        return  # the same feedback again
    updated, examples = label_feedback(updated, value)  # type: ignore[arg-type]
    step.out.examples.extend(examples)
    step.put_member(alert_id, updated, member)
    _tell_statistics(step, updated, value)


def _tell_statistics(step: Step, member: Any, value: dict[str, Any]) -> None:
    """The fingerprint statistics hear of the feedback (they count each piece once)."""
    alert = member["alert"]
    fact = {
        "tenant": alert["tenant"],
        "fingerprint": alert["fingerprint"],
        "alert_id": alert["id"],
        "kind": value["kind"],
        "actionable": value["actionable"],
        "at": value["at"],
        "template_id": alert.get("template_id"),
        "template": alert.get("template"),
    }
    step.out.facts.append((f"{alert['tenant']}|{alert['fingerprint']}", fact))


def _find_member(step: Step, incident_id: str, value: dict[str, Any]) -> None:
    """The member is in another partition: its home's, when the incident's sample knows it,
    else whichever partition has it (every one is asked)."""
    head = step.tables.incidents.get(incident_id)
    homes = {alert_id: home for alert_id, home in (head or {}).get("sample", [])}
    forward = {**value, "only": "member"}
    if value["alert_id"] in homes:
        step.out.events.append((homes[value["alert_id"]], forward, None))
        return
    for partition in range(step.partitions):
        if partition != step.partition:
            step.out.events.append(("", {**forward, "search": True}, partition))


def _on_incident(step: Step, incident_id: str, value: dict[str, Any]) -> None:
    """Acknowledge or close the incident (where it merged, if it did; a part's, where it is)."""
    if is_part(incident_id):
        step.out.events.append((whole(incident_id), value, None))
        return
    head = step.head(incident_id)
    if head is None:
        return  # feedback on an incident this stage never saw (or that expired)
    if head["merged_into"] is not None:
        step.out.events.append((head["merged_into"], value, None))
        return
    after = act(head, value, max(step.timers.clock_ms, epoch_ms(value["at"])))
    if after is not head:
        step.put_head(after)
        if head["closed"] is None and after["closed"] is not None:  # a person closed it:
            close = {"kind": "close", "incident_id": incident_id, "tenant": head["tenant"]}
            for group in after.get("groups") or []:  # its groups' next alerts open a new one
                step.out.closed.append((group, close))


def delivered(step: Step, incident_id: str, result: dict[str, Any], position: int) -> None:
    """Record a delivery's result in the log and publish it (again, on a replay)."""
    key = result["key"]
    entry = step.tables.nflog.get(key)
    if entry is None:
        return  # its log entry went already (a result of a send long done)
    replay = entry.get("position") is not None and position <= entry["position"]
    done = nflog.finished(entry, result["notification_id"], result["ok"], result["attempts"])
    if done is entry and not replay:
        return  # a second result for one send: the first one counted
    if not replay:
        step.tables.nflog.put(key, {**done, "position": position})
        step.out.finished.append(key)
        timer = step.tables.timers.get(incident_id)
        kept = without(timer, key)
        if kept is not None:
            step.tables.timers.put(incident_id, kept)
        elif timer is not None:
            step.tables.timers.delete(incident_id)
        head = step.tables.incidents.get(incident_id)
        if head is not None and result["ok"]:
            change = entry["notification"].get("change", result["state"])
            head = heads.note_sent(
                head,
                result["receiver"],
                result["state"],
                change,
                result["at"],
                result.get("reference"),
            )
            step.put_head(head, plan_it=False)
        step.out.delivered[(result["receiver"], result["outcome"])] += 1
        due = retention.entry_due(done, head)
        if due is not None and due <= step.timers.clock_ms:
            step.tables.nflog.delete(key)  # its incident's log was pruned while it was in flight
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
    step.out.results.append((bool(result["ok"]), incident_id, record))


def tick(step: Step, at_ms: int) -> None:
    """Event time passes; sends whose time to be looked at came are resumed if orphaned."""
    step.timers.advance(at_ms)
    resend_after = step.config.options.resend_after_ms
    for key, incident_id in step.timers.to_check(step.wall_ms):
        entry = step.tables.nflog.get(key)
        if entry is None or entry["status"] != "in_flight":
            continue
        if key in step.running or not nflog.orphaned(entry, False, step.wall_ms, resend_after):
            later = max(entry["started_ms"], step.wall_ms) + resend_after
            step.timers.check_later(later, key, incident_id)
            continue
        step.tables.nflog.put(key, {**entry, "started_ms": step.wall_ms})
        step.out.deliveries.append((incident_id, key, entry["notification"]))
        step.timers.check_later(step.wall_ms + resend_after, key, incident_id)


def judged(step: Step, incident_id: str) -> None:
    """Triage let this new incident stand: its first page is due now (again on a replay: no
    change)."""
    head = step.head(incident_id)
    if head is None or "judging" not in head:
        return
    standing = cast(Incident, {name: value for name, value in head.items() if name != "judging"})
    step.put_head(standing)


def merge(step: Step, incident_id: str, value: dict[str, Any], position: int) -> None:
    """This incident joins ``into``: it hands its counts over and becomes a redirect."""
    into, at_ms = str(value["into"]), int(value["at_ms"])
    if into == incident_id:
        return
    if is_part(incident_id):
        _part_moved(step, incident_id, into, at_ms)
        return
    head = step.head(incident_id)
    if head is not None and head["merged_into"] is not None:
        replay = head["merged_into"] == into and head.get("merge_position") == position
        if replay and "handover" in head:  # sent again; a bare redirect handed nothing over
            _hand_over(step, incident_id, head, value)
        return  # merged already: the first merge stands
    step.timers.advance(at_ms)
    if head is None:  # merged before any of its alerts came
        _bare_redirect(step, incident_id, into, at_ms, str(value.get("tenant", "")), position)
        return
    head = redirect(head, into, at_ms, str(value.get("reason", "")))
    head["forwarded"], head["merge_position"] = 1, position
    step.put_head(head)
    _hand_over(step, incident_id, head, value)
    _republish(
        step, incident_id, head, into, f"merged into incident {into}: {value.get('reason', '')}"
    )


def _part_moved(step: Step, part: str, into: str, at_ms: int) -> None:
    """The incident of ``part`` merged into ``into`` (or that one merged further): the part
    becomes a redirect there."""
    found = step.tables.incidents.get(part)
    if found is None or found["merged_into"] != into:
        _bare_redirect(step, part, into, at_ms)


def _bare_redirect(
    step: Step,
    incident_id: str,
    into: str,
    at_ms: int,
    tenant: str = "",
    position: int | None = None,
) -> None:
    """A redirect with nothing handed over, kept as long as a merged incident's head: an
    incident merged (at ``position``) before any of its alerts came, or a part."""
    head = heads.new_incident(incident_id, tenant, "", {})
    head["merged_into"], head["merged_ms"] = into, at_ms
    if position is not None:
        head["merge_position"] = position
    step.put_head(head, plan_it=False)
    due = at_ms + retention.HEAD_KEEP_MS
    HEADS.schedule(step.tables.incidents, step.partition, incident_id, due, None)


def _republish(step: Step, incident_id: str, head: Any, into: str, why: str) -> None:
    """Publish the incident's alerts again, now in ``into`` (``merged_from``, and why in their
    reasons): those of its sample — all of them unless it held more than ``SAMPLE``; the
    partitions of its parts are asked to."""
    for alert_id, home in head["sample"]:
        if home == incident_id:
            _republish_member(step, alert_id, into, incident_id, why)
        elif is_part(home) and whole(home) == incident_id:
            moved = {"kind": "republish", "alert_id": alert_id, "into": into}
            step.out.events.append((home, {**moved, "from": incident_id, "why": why}, None))


def _republish_member(step: Step, alert_id: str, into: str, incident_id: str, why: str) -> None:
    member = step.tables.members.get(alert_id)
    if member is None or member["alert"].get("incident_id") == into:
        return
    was = member["alert"]
    public = {**was, "incident_id": into, "merged_from": incident_id}
    public["reasons"] = [*was.get("reasons", []), why]
    step.put_member(alert_id, cast(Member, {**member, "alert": public}), member)
    step.out.enriched.append((alert_id, public, epoch_ms(public["starts_at"])))


def _hand_over(step: Step, incident_id: str, head: Any, value: dict[str, Any]) -> None:
    event = {
        "kind": "adopt",
        "from": incident_id,
        "v": 1,
        "summary": head["handover"],
        "reason": value.get("reason", ""),
        "at_ms": int(value["at_ms"]),
    }
    step.out.events.append((head["merged_into"], event, None))


def _tell_part(step: Step, part: str, into: str, at_ms: int) -> None:
    """A part whose incident merged publishes its alerts' changes in ``into`` from now on."""
    step.out.events.append((part, {"kind": "merge", "into": into, "at_ms": at_ms}, None))


def adopt(step: Step, incident_id: str, value: dict[str, Any]) -> None:
    """A contribution of a merged incident: applied once, or forwarded if this one merged too."""
    source, version = str(value["from"]), int(value["v"])
    hops = int(value.get("hops", 0))
    if hops > MAX_HOPS:
        raise ValueError(f"notify.events: a contribution of {source} went round {hops} merges")
    row_key = child_key(incident_id, source)
    applied = step.tables.incidents.get(row_key)
    at_ms = int(value.get("at_ms") or value.get("change", {}).get("at_ms") or 0)
    if applied is not None and version <= applied["v"]:
        if applied.get("sent") and applied["v"] == version:
            into, event, to = applied["sent"]
            step.out.events.append((into, event, to))
            if applied.get("told") == version:
                _tell_part(step, source, into, at_ms)
        return
    head = step.tables.incidents.get(incident_id)  # as stored: a change folds in later
    step.timers.advance(at_ms)
    row: dict[str, Any] = {"v": version, "at_ms": step.timers.clock_ms}
    if applied is not None and "told" in applied:
        row["told"] = applied["told"]
    contribution: dict[str, Any] = {
        name: value[name] for name in ("summary", "change", "reason") if name in value
    }
    if head is not None and head["merged_into"] is not None:
        event = step.forward(incident_id, head, {**contribution, "hops": hops + 1})
        row["sent"] = [head["merged_into"], event, None]
        if is_part(source) and "told" not in row:  # once, with the contribution it came with
            _tell_part(step, source, head["merged_into"], at_ms)
            row["told"] = version
    elif "summary" in value:
        reason = str(value.get("reason", ""))
        step.put_head(absorb(step.head(incident_id), value["summary"], incident_id, at_ms, reason))
    else:
        if value.get("storm"):  # it may open the storm's own incident
            step.awaiting_triage([incident_id])
        step.fold_later(incident_id, cast(Change, {**value["change"], "incident_id": incident_id}))
    if applied is None:
        due = step.timers.clock_ms + retention.HEAD_KEEP_MS
        HEADS.schedule(step.tables.incidents, step.partition, row_key, due, None)
    step.tables.incidents.put(row_key, row)
