"""Online learning end to end: feedback through the HTTP API teaches the tenant's model.

A kind of alert marked as noise stops paging (it still reaches ``alerts.enriched``, decided
``suppress``); a kind that is acknowledged keeps paging — and so it stays after the worker is
killed and restarted, which scores a probe alert exactly as before.
"""

from __future__ import annotations

from tests.harness import (
    Receiver,
    TopicReader,
    Worker,
    accepted,
    caught_up,
    eventually,
    http,
    unique,
)

LESSONS = 6  # labels per kind before the model is asked again
# Hours apart: one incident each. Two kinds that fire together, day after day, co-occur, and
# correlation would join them into one incident whose id is whichever was placed first.
HOURS = {"CpuSpike": 10, "DatabaseDown": 16}


def _alert(kind: str, service: str, day: int, host: str) -> dict:
    hour = HOURS[kind]
    return {
        "title": f"{kind} on {host}",
        "service": service,
        "severity": "warning",
        "labels": {"alertname": kind, "host": host},
        "starts_at": f"2026-10-{day:02d}T{hour:02d}:00:00Z",
    }


def _post(worker: Worker, tenant: str, alerts: list[dict]) -> list[str]:
    return accepted(worker, f"/api/v1/alerts?tenant={tenant}", alerts)


def _model(worker: Worker, tenant: str, samples: int) -> dict:
    def ready() -> dict | None:
        answer = http("GET", f"{worker.url}/api/v1/models/{tenant}")
        return answer.body if answer.status == 200 and answer.body["samples"] >= samples else None

    return eventually(ready, 45, f"the model of {tenant} to learn {samples} labels")


def test_noise_stops_paging_and_acknowledged_kind_keeps_paging_across_restart(
    worker: Worker,
    bootstrap: str,
    enriched: TopicReader,
    receiver: Receiver,
) -> None:
    tenant = unique("learn")
    teach = [
        alert
        for n in range(LESSONS)
        for alert in (
            _alert("CpuSpike", "web", 1 + n, f"web-{n}"),
            _alert("DatabaseDown", "db", 1 + n, f"db-{n}"),
        )
    ]
    ids = _post(worker, tenant, teach)
    records = {value["id"]: value for _, value, _ in enriched.wait(lambda k, v: k in ids, 12)}
    first_cpu, first_db = records[ids[0]], records[ids[1]]
    assert first_cpu["decision"] == first_db["decision"] == "notify"
    assert any("nobody has told the model" in reason for reason in first_cpu["reasons"])

    for alert_id, alert in zip(ids, teach, strict=True):
        if alert["labels"]["alertname"] == "CpuSpike":
            body, action = {"by": "ann", "actionable": False}, "resolve"
        else:
            body, action = {"by": "ann"}, "acknowledge"
        # People act on what they can see: the alert view is written after alerts.enriched.
        url = f"{worker.url}/api/v1/alerts/{alert_id}"
        eventually(lambda url=url: http("GET", url).status == 200, 30, f"GET {url}")
        answer = http("POST", f"{url}/{action}", body)
        assert answer.status == 202, answer.body

    model = _model(worker, tenant, 2 * LESSONS)
    assert model["samples_by_source"] == {"resolve": LESSONS, "ack": LESSONS}
    assert model["kinds"]["CpuSpike"]["noise"] == LESSONS
    assert model["kinds"]["DatabaseDown"]["actionable"] == LESSONS
    assert model["roc_auc"] is not None and model["precision"] is not None
    metrics = http("GET", f"{worker.url}/metrics", token=None).body.decode()
    assert f'alertflow_model_samples{{tenant="{tenant}"}} {2.0 * LESSONS}' in metrics

    (probe_id,) = _post(worker, tenant, [_alert("CpuSpike", "web", 20, "probe-1")])
    (_, probe, _), *_ = enriched.wait(lambda key, value: key == probe_id)

    eventually(lambda: caught_up(bootstrap), 45, "the worker to commit everything")
    model = _model(worker, tenant, 2 * LESSONS)  # the probe moved the tenant's phases
    worker.stop(kill=True)
    worker.start()

    assert _model(worker, tenant, 2 * LESSONS) == model, "the model survives the restart"
    (again_id,) = _post(worker, tenant, [_alert("CpuSpike", "web", 27, "probe-2")])
    (_, again, _), *_ = enriched.wait(lambda key, value: key == again_id, timeout=60)
    assert again["score"] == probe["score"], "a restarted worker scores exactly as before"

    noisy_id, real_id = _post(
        worker,
        tenant,
        [_alert("CpuSpike", "web", 28, "web-9"), _alert("DatabaseDown", "db", 28, "db-9")],
    )
    found = {v["id"]: v for _, v, _ in enriched.wait(lambda k, v: k in (noisy_id, real_id), 2)}
    noisy, real = found[noisy_id], found[real_id]
    assert noisy["decision"] == "suppress", noisy["reasons"]
    assert any("noise for CpuSpike" in reason for reason in noisy["reasons"]), noisy["reasons"]
    assert real["decision"] == "notify", real["reasons"]
    receiver.wait(lambda n: n["incident_id"] == real["incident_id"])
    assert not [
        post for post in receiver.posts if post["body"]["incident_id"] == noisy["incident_id"]
    ], "a kind marked as noise does not page"
