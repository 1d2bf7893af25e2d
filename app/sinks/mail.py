"""E-mail over SMTP with STARTTLS: one multipart message, plain text and HTML."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Any

import aiohttp
import aiosmtplib

from app.sinks.base import SendError
from app.sinks.message import Summary, summarize


@dataclass(frozen=True)
class EmailSink:
    """Sends each notification to ``to`` through the SMTP server ``host:port``.

    ``starttls`` (the default) upgrades the connection before anything else is said and
    fails when the server cannot; ``ca_file`` names extra trusted CAs (a private relay).
    """

    host: str
    sender: str
    to: tuple[str, ...]
    name: str = "email"
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    ca_file: str | None = None

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Hand the message to the server; 4xx replies and lost connections are retried."""
        context = ssl.create_default_context(cafile=self.ca_file) if self.starttls else None
        try:
            await aiosmtplib.send(
                compose(notification, self.sender, self.to),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                tls_context=context,
                timeout=None,  # deliver() bounds each attempt
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(f"SMTP {exc.code}: {exc.message}", retry=400 <= exc.code < 500) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"SMTP recipients refused: {exc.recipients}", retry=False) from exc
        except aiosmtplib.SMTPException as exc:
            raise SendError(f"SMTP: {exc}", retry=True) from exc


def compose(notification: dict[str, Any], sender: str, to: tuple[str, ...]) -> EmailMessage:
    """The message: subject with status, severity, title and count; text and HTML bodies.

    >>> m = compose({"status": "firing", "severity": "critical", "title": "Disk <full>",
    ...              "alert_count": 2, "incident_id": "i1"}, "af@x.org", ("ops@x.org",))
    >>> m["Subject"], m.get_content_type()
    ('[FIRING] critical: Disk <full> (2 alerts)', 'multipart/alternative')
    >>> "Disk &lt;full&gt;" in m.get_body(("html",)).get_content()
    True
    """
    summary = summarize(notification)
    message = EmailMessage()
    message["Subject"] = (
        f"[{summary.status}] {summary.severity}: {summary.title} ({summary.counts})"
    )
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if incident := notification.get("incident_id"):
        message["X-Alertflow-Incident"] = str(incident)
    message.set_content(text_body(summary))
    message.add_alternative(html_body(summary), subtype="html")
    return message


def text_body(summary: Summary) -> str:
    """The plain-text part."""
    lines = [summary.headline, "", f"{summary.counts} · tenant {summary.tenant}"]
    lines.append(f"first seen {summary.first_seen or '–'} · last seen {summary.last_seen or '–'}")
    if summary.body is not None:
        lines += ["", summary.body]
    elif summary.changes:
        lines += ["", "Since the last notification:", *(f"  - {c}" for c in summary.changes)]
    if summary.reasons and summary.body is None:
        lines += ["", "Why:", *(f"  - {r}" for r in summary.reasons)]
    if summary.links:
        lines += ["", *(f"{label}: {url}" for label, url in summary.links.items())]
    return "\n".join(lines) + "\n"


def html_body(summary: Summary) -> str:
    """The HTML part: the same content, readable on a phone (no external resources)."""
    color = f"#{summary.color:06x}"
    parts = [
        '<html><body style="font-family:sans-serif;max-width:600px">',
        f'<h2 style="color:{color};margin:0 0 8px">{escape(summary.headline)}</h2>',
        f"<p><b>{escape(summary.counts)}</b> · tenant {escape(summary.tenant)}<br>",
        f"first seen {escape(summary.first_seen or '–')}"
        f" · last seen {escape(summary.last_seen or '–')}</p>",
    ]
    if summary.body is not None:
        text = escape(summary.body).replace("\n", "<br>")
        parts.append(f'<p style="white-space:pre-wrap">{text}</p>')
    for heading, items in (
        ("Since the last notification", [] if summary.body is not None else summary.changes),
        ("Why", [] if summary.body is not None else summary.reasons),
    ):
        if items:
            parts.append(f"<p><b>{heading}</b></p><ul>")
            parts += [f"<li>{escape(item)}</li>" for item in items]
            parts.append("</ul>")
    if summary.links:
        anchors = (
            f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in summary.links.items()
        )
        parts.append(f"<p>{' · '.join(anchors)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
