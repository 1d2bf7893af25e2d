"""The console in a real browser (Debian's chromium, driven by Playwright) on the session worker.

An alert posted through ``/webhooks/alertmanager`` appears on the open page within a second,
without a reload; acknowledging it from the page reaches ``alerts.feedback`` and the webhook
receiver; a silence made from the page mutes the next matching alert. The page is used from the
keyboard (focus order, visible focus, buttons pressed with Enter and Space), and the test saves
the screenshots of docs/console.md into docs/img/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    API_TOKEN,
    REPO,
    Receiver,
    TopicReader,
    Worker,
    accepted,
    await_view,
    unique,
)

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "img"
SHOWN_AT = """(text) => {
  new MutationObserver((changes, observer) => {
    if (document.querySelector("#alerts").textContent.includes(text)) {
      window.shownAt = Date.now();
      observer.disconnect();
    }
  }).observe(document.querySelector("main"), {childList: true, subtree: true});
}"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile; skips where Debian's chromium could not be installed."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: scripts/install-test-tools installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def alertmanager_group(tenant: str, summary: str, instance: str) -> dict[str, Any]:
    """One firing alert as Alertmanager's webhook (version 4) sends it."""
    labels = {"alertname": "ConsoleDiskFull", "severity": "critical", "instance": instance}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="ConsoleDiskFull",instance="{instance}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alertflow",
        "groupLabels": {"alertname": "ConsoleDiskFull"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": summary},
                "startsAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": unique("fp"),
            }
        ],
    }


def focused(page: Any) -> str:
    """What has the keyboard focus: its text or its id."""
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.id || e.textContent.trim() || e.tagName; })()"
        )
    )


def outline(page: Any) -> str:
    return str(
        page.evaluate("getComputedStyle(document.activeElement).outlineStyle"),
    )


def test_console_live_acknowledge_and_silence_in_a_real_browser(
    worker: Worker,
    receiver: Receiver,
    enriched: TopicReader,
    feedback_topic: TopicReader,
    browser: Any,
) -> None:
    tenant, by = unique("console"), "ann"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{worker.url}/")

    # Keyboard only: the token prompt takes the focus; typing and Enter sign in.
    page.wait_for_selector("#signin:not([hidden])")
    assert focused(page) == "token"
    page.keyboard.type(API_TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_selector("#signin", state="hidden")
    # Focus order from the top of the page, each with a visible focus ring (the token stays in
    # the tab's sessionStorage across the reload).
    page.reload()
    page.wait_for_selector("#live.on")
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(focused(page))
        assert outline(page) != "none", f"{order[-1]} shows no focus"
    assert order == [
        "Skip to content",
        "alertflow",
        "Incidents",
        "Silences",
        "Model",
        "tenant",
        "by",
        "Apply",
    ]
    page.focus("#tenant")
    page.keyboard.type(tenant)
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type(by)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"h1:has-text('Incidents of {tenant}')")
    page.wait_for_selector("#live.on")

    # Live: the alert shows up without a reload, within a second of the webhook post.
    summary = f"Disk full on db-1 ({tenant})"
    page.evaluate(SHOWN_AT, summary)  # notes the moment the row is in the page
    started = time.time()
    (alert_id,) = accepted(
        worker,
        f"/webhooks/alertmanager?tenant={tenant}",
        alertmanager_group(tenant, summary, "db-1"),
    )
    page.wait_for_selector(f"#incidents >> text={summary}", timeout=10_000)
    page.wait_for_selector(f"#alerts >> text={summary}", timeout=10_000)
    shown_after = page.evaluate("window.shownAt") / 1000 - started
    print(f"the alert was on the page {shown_after * 1000:.0f} ms after the webhook post")
    assert shown_after < 1.0
    page.wait_for_timeout(600)  # the incident's own record replaces the provisional row
    page.screenshot(path=str(SCREENSHOTS / "console-incidents.png"), full_page=True)

    # The incident page, opened with Enter; Acknowledge pressed with Enter.
    page.locator("#incidents a", has_text=summary).focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"h1:has-text('{summary}')")
    assert focused(page) == summary  # the view's heading takes the focus
    page.get_by_role("button", name="Acknowledge").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Acknowledged — recorded for 1 alert(s)")
    (record,) = feedback_topic.wait(lambda key, value: key == alert_id)
    assert record[1]["kind"] == "ack" and record[1]["by"] == by
    assert record[1]["tenant"] == tenant and record[1]["actionable"] is True
    incident_id = record[1]["incident_id"]
    receiver.wait(lambda n: n["incident_id"] == incident_id and n["status"] == "acknowledged")
    page.wait_for_selector("text=Told acknowledged: webhook", timeout=10_000)  # live timeline
    page.screenshot(path=str(SCREENSHOTS / "console-incident.png"), full_page=True)

    # A silence from the alert's labels, without the instance: the preview shows what it mutes.
    page.goto(f"{worker.url}/#/silences/new?alert={alert_id}")
    page.wait_for_selector("text=Matches 1 firing alert(s) now")
    page.locator("input[data-name=instance]").focus()
    page.keyboard.press("Space")
    assert not page.locator("input[data-name=instance]").is_checked()
    assert page.locator("input[data-name=tenant]").is_disabled()
    page.wait_for_selector(f".preview >> text={summary}")
    page.get_by_role("button", name="Create silence").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=See all silences")
    silence_id = page.locator(".message").inner_text().split()[1]
    await_view(
        worker,
        "/api/v1/silences?state=active",
        lambda body: any(s["id"] == silence_id for s in body["silences"]),
    )

    # The next matching alert (another instance) is muted; the page shows it live.
    page.goto(f"{worker.url}/#/")
    page.wait_for_selector(f"h1:has-text('Incidents of {tenant}')")
    other = f"Disk full on db-2 ({tenant})"
    (muted_id,) = accepted(
        worker, f"/webhooks/alertmanager?tenant={tenant}", alertmanager_group(tenant, other, "db-2")
    )
    ((_, muted, _),) = enriched.wait(lambda key, value: key == muted_id)
    assert muted["decision"] == "suppress"
    assert any(reason.startswith(f"silenced by {silence_id}") for reason in muted["reasons"])
    page.wait_for_selector(f"#alerts tr:has-text('{other}') >> text=suppress")

    page.goto(f"{worker.url}/#/model")
    page.wait_for_selector(f"h1:has-text('Model of {tenant}')")
    page.wait_for_selector("svg.chart")
    page.screenshot(path=str(SCREENSHOTS / "console-model.png"), full_page=True)

    page.emulate_media(color_scheme="dark")
    page.goto(f"{worker.url}/#/")
    page.wait_for_selector(f"#alerts >> text={other}")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"  # the dark palette of prefers-color-scheme
    page.screenshot(path=str(SCREENSHOTS / "console-dark.png"), full_page=True)
    assert errors == []
