"""A real SMTP relay on loopback for the notification tests (aiosmtpd), and workspace config helpers."""

from __future__ import annotations

import email
import socket
import subprocess
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message as the relay took it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        """The Subject as a mail client shows it (Python folds long subjects right after `Subject:`)."""
        return str(self.message["Subject"]).strip()

    def part(self, content_type: str) -> str:
        """The decoded text of the part with this content type (e.g. text/plain), line ends as \\n."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                return part.get_content().replace("\r\n", "\n")
        raise AssertionError(f"no {content_type} part in {self.message['Subject']!r}")


class _Collector:
    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else raw.encode()
        parsed = email.message_from_bytes(raw, policy=default_policy)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class SmtpRelay:
    """An aiosmtpd relay on a free loopback port that keeps every message it accepts."""

    def __init__(self, **controller_kwargs: Any) -> None:
        self.host = HOST
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname=self.host, port=self.port, **controller_kwargs)

    @property
    def messages(self) -> list[Received]:
        """What the relay accepted, in order."""
        return self._collector.received

    def start(self) -> SmtpRelay:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def env(self) -> dict[str, str]:
        """The INVOICE_PIPELINE_SMTP_* variables that point at this relay."""
        return {"INVOICE_PIPELINE_SMTP_HOST": self.host, "INVOICE_PIPELINE_SMTP_PORT": str(self.port)}


def configure(config_path: Path, **sections: dict[str, Any]) -> None:
    """Merge `sections` (e.g. notifications={...}, daily_sync={...}) into a workspace's config file."""
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for name, values in sections.items():
        data[name] = {**(data.get(name) or {}), **values}
    config_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


RECIPIENTS = ["billing-team@example.com", "controller@example.com"]
SENDER = "invoice-pipeline@example.com"


def enable_notifications(config_path: Path, **values: Any) -> None:
    """Give the workspace notification recipients and a sender (plus any other notification settings)."""
    configure(config_path, notifications={"recipients": RECIPIENTS, "sender": SENDER, **values})


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI: (cert, key)."""
    cert, key = folder / "relay-cert.pem", folder / "relay-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
