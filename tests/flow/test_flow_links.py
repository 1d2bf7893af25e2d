"""Acknowledge/Resolve from a chat message: signed links, a confirmation page, the POST it sends.

The session worker has an API token, so the webhook's notifications carry signed ``actions``;
the test opens them as a browser would (no token), then presses the button.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from app.links import signature
from tests.harness import API_TOKEN, Receiver, TopicReader, Worker, eventually, http, unique


def _alerts(worker: Worker, tenant: str) -> list[str]:
    body = [
        {"title": f"Queue {n} backing up", "service": "mq", "labels": {"alertname": "Backlog"}}
        for n in (1, 2)
    ]
    answer = http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", body)
    assert answer.status == 202, answer.body
    return answer.body["ids"]


def test_signed_links_open_a_page_that_never_acts_and_its_post_acknowledges(
    worker: Worker, receiver: Receiver, enriched: TopicReader, feedback_topic: TopicReader
) -> None:
    tenant = unique("links")
    ids = _alerts(worker, tenant)
    records = enriched.wait_keys(ids)
    (incident_id,) = {value["incident_id"] for _, value, _ in records}
    eventually(
        lambda: (
            set(http("GET", f"{worker.url}/api/v1/incidents/{incident_id}").body["alert_ids"])
            == set(ids)
        ),
        what="both alerts in the incident view",
    )
    notified = receiver.wait(lambda n: n["incident_id"] == incident_id and "actions" in n)[0]
    ack, resolve = notified["actions"]["acknowledge"], notified["actions"]["resolve"]
    query = parse_qs(urlsplit(ack).query)
    exp = int(query["exp"][0])
    assert 23.9 * 3600 < exp - time.time() <= 24 * 3600  # the default lifetime
    (by,) = query["by"]
    assert by.startswith("link:")  # the receiver the link went to
    assert query["sig"] == [signature(API_TOKEN, incident_id, "acknowledge", exp, by)]

    for link in (ack, resolve):  # what a chat app's preview or a person's click does
        page = http("GET", link, token=None)
        assert page.status == 200, page.body
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Cache-Control"] == "no-store"
        assert b'<form method="post"' in page.body
    assert (
        http("GET", f"{worker.url}/api/v1/incidents/{incident_id}/resolve", token=None).status
        == 401
    )

    base = f"{worker.url}/api/v1/incidents/{incident_id}/acknowledge"
    forged = http("POST", f"{base}?sig={'0' * 64}&exp={exp}", token=None)
    assert forged.status == 401 and forged.body["error"] == "invalid_signature"
    other = http("POST", f"{base}?sig={query['sig'][0]}&exp={exp + 1}", token=None)
    assert other.status == 401 and other.body["error"] == "invalid_signature"
    past = int(time.time()) - 60
    expired = http(
        "POST",
        f"{base}?sig={signature(API_TOKEN, incident_id, 'acknowledge', past)}&exp={past}",
        token=None,
    )
    assert expired.status == 401 and expired.body["error"] == "link_expired"
    crossed = f"{worker.url}/api/v1/incidents/{incident_id}/resolve?{urlsplit(ack).query}"
    assert http("POST", crossed, token=None).status == 401  # an ack link does not resolve

    done = http("POST", ack, token=None)  # what the page's button sends
    assert done.status == 202 and set(done.body["ids"]) == set(ids)
    feedback = feedback_topic.wait(lambda key, value: key in ids, count=2)
    time.sleep(1)  # anything the GETs had written would sit before these records
    feedback = feedback_topic.matching(lambda key, value: key in ids)
    assert len(feedback) == 2, feedback
    assert {(v["kind"], v["incident_id"], v["by"]) for _, v, _ in feedback} == {
        ("ack", incident_id, by)
    }


def test_a_signed_link_acts_once_as_its_receiver_and_only_as_it_allows(
    worker: Worker, receiver: Receiver, enriched: TopicReader, feedback_topic: TopicReader
) -> None:
    """Issue G.13: 3 POSTs of one link made 3 feedback records, with any by and actionable."""
    tenant = unique("once")
    ids = _alerts(worker, tenant)
    records = enriched.wait_keys(ids)
    (incident_id,) = {value["incident_id"] for _, value, _ in records}
    notified = receiver.wait(lambda n: n["incident_id"] == incident_id and "actions" in n)[0]
    ack, resolve = notified["actions"]["acknowledge"], notified["actions"]["resolve"]
    by = parse_qs(urlsplit(ack).query)["by"][0]

    flipped = http("POST", ack + "&actionable=false", token=None)
    assert flipped.status == 400 and flipped.body["error"] == "invalid_field"
    first = http("POST", ack, {"by": "mallory", "actionable": True}, token=None)
    assert first.status == 202, first.body
    for _ in range(2):
        again = http("POST", ack, {"by": "mallory"}, token=None)
        assert again.status == 409 and again.body["error"] == "link_used", again.body
    assert http("GET", ack, token=None).status == 409
    noise = http("POST", resolve + "&actionable=false", token=None)  # another link: its own use
    assert noise.status == 202, noise.body

    feedback_topic.wait(lambda key, value: key in ids and value["kind"] == "resolve", count=2)
    time.sleep(1)
    found = [v for _, v, _ in feedback_topic.matching(lambda key, value: key in ids)]
    assert sorted((v["kind"], v["by"], v["actionable"]) for v in found) == [
        ("ack", by, True),
        ("ack", by, True),
        ("resolve", by, False),
        ("resolve", by, False),
    ]  # one record per alert (2) per link: no replay, no "mallory"
