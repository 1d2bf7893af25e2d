"""The e-mail sink against a local SMTP server (aiosmtpd) that requires STARTTLS."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.sinks.base import Receiver, RetryPolicy, deliver
from app.sinks.mail import EmailSink
from tests.harness import free_port

NOTIFICATION = {
    "incident_id": "inc-42",
    "tenant": "payments",
    "status": "firing",
    "title": "Checkout <5xx> rate high",
    "severity": "critical",
    "alert_ids": ["a1", "a2"],
    "alert_count": 2,
    "first_seen": "2024-05-01T02:13:00+00:00",
    "last_seen": "2024-05-01T02:14:00+00:00",
    "reasons": ["severity critical always pages"],
    "url": "https://af.example.org/api/v1/incidents/inc-42",
    "added_alert_ids": ["a2"],
}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Mailbox:
    """aiosmtpd handler: keeps each message and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage, bool]] = []
        self.answers: list[str] = []  # scripted replies to DATA, then 250

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        parsed = message_from_bytes(envelope.content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed, session.ssl is not None))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield mailbox, port, cert_file
    controller.stop()


def sink(port: int, ca_file: Path | None, **options: Any) -> EmailSink:
    return EmailSink(
        host="127.0.0.1",
        port=port,
        sender="alertflow@example.org",
        to=("oncall@example.org", "sre@example.org"),
        ca_file=str(ca_file) if ca_file else None,
        **options,
    )


async def test_mail_over_starttls_with_text_and_html(smtp: Any) -> None:
    mailbox, port, cert_file = smtp
    delivery = await deliver(sink(port, cert_file), None, NOTIFICATION)  # type: ignore[arg-type]
    assert delivery.ok, delivery.error
    [(envelope, mail, over_tls)] = mailbox.messages
    assert over_tls
    assert envelope.mail_from == "alertflow@example.org"
    assert envelope.rcpt_tos == ["oncall@example.org", "sre@example.org"]
    assert mail["Subject"] == "[FIRING] critical: Checkout <5xx> rate high (2 alerts)"
    assert mail["X-Alertflow-Incident"] == "inc-42"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain, markup = text.get_content(), html.get_content()
    assert "🔴 FIRING · critical · Checkout <5xx> rate high" in plain
    assert "1 new: a2" in plain
    assert "Acknowledge: https://af.example.org/api/v1/incidents/inc-42/acknowledge" in plain
    assert "Checkout &lt;5xx&gt; rate high" in markup and "<5xx>" not in markup
    assert '<a href="https://af.example.org/api/v1/incidents/inc-42/resolve">Resolve</a>' in markup


async def test_server_requiring_starttls_rejects_plain_sessions(smtp: Any) -> None:
    mailbox, port, _ = smtp
    delivery = await deliver(sink(port, None, starttls=False), None, NOTIFICATION)  # type: ignore[arg-type]
    assert not delivery.ok and delivery.outcome == "rejected"  # 530: a 5xx is final
    assert "530" in (delivery.error or "") and mailbox.messages == []


async def test_untrusted_certificate_is_refused(smtp: Any) -> None:
    mailbox, port, _ = smtp
    receiver = Receiver(sink(port, None), retry=RetryPolicy(attempts=1))
    delivery = await deliver(receiver, None, NOTIFICATION)  # type: ignore[arg-type]
    assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in (delivery.error or "")
    assert mailbox.messages == []


async def test_temporary_failure_is_retried(smtp: Any) -> None:
    mailbox, port, cert_file = smtp
    mailbox.answers = ["451 Try again later"]
    receiver = Receiver(sink(port, cert_file), retry=RetryPolicy(base_delay=0.01))
    delivery = await deliver(receiver, None, NOTIFICATION)  # type: ignore[arg-type]
    assert delivery.ok and delivery.attempts == 2
    assert len(mailbox.messages) == 1
