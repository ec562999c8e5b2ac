"""Sending mail through a real SMTP relay on loopback (aiosmtpd): plain, AUTH, STARTTLS and SSL.

The relay's settings are tested in the unit tier (unit/notifications/test_mail.py).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from invoice_pipeline.notifications.mail import MailError, SmtpSettings, build_message, send_message
from invoice_pipeline_tests.smtp_relay import HOST, SmtpRelay, free_port, self_signed_certificate

SENDER = "invoice-pipeline@example.com"
RECIPIENTS = ["billing-team@example.com", "controller@example.com"]
USER, PASSWORD = "pipeline", "s3cr3t-Pa55word!"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def _message(subject: str = "Provider invoices 2026-11-25: 2 imported, 1 failed", html: str | None = "<p>hi</p>"):
    return build_message(
        sender=SENDER, recipients=RECIPIENTS, subject=subject, text="Succeeded (2):\n  - contoso-csp:G1\n", html=html
    )


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    """A plain relay (no TLS, no AUTH) that keeps what it accepts."""
    server = SmtpRelay().start()
    yield server
    server.stop()


class _Credentials:
    """An authenticator that accepts USER/PASSWORD only, remembering every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.attempts.append((mechanism, auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def credentials() -> _Credentials:
    return _Credentials()


@pytest.fixture
def auth_relay(credentials) -> Iterator[SmtpRelay]:
    """A relay that requires AUTH, offered without TLS."""
    server = SmtpRelay(authenticator=credentials, auth_required=True, auth_require_tls=False).start()
    yield server
    server.stop()


@pytest.fixture
def certificate(tmp_path):
    return self_signed_certificate(tmp_path)


def _server_context(certificate) -> ssl.SSLContext:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


# Plain delivery ------------------------------------------------------------------------------------


def test_send_message_hands_the_message_to_every_recipient_with_sender_subject_and_both_parts(relay):
    html = "<h2>Provider invoice imports</h2><p>contoso-csp:G1</p>"
    send_message(SmtpSettings(HOST, relay.port), _message(html=html))
    (received,) = relay.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == RECIPIENTS
    assert received.message["From"] == SENDER
    assert received.message["To"] == ", ".join(RECIPIENTS)
    assert received.subject == "Provider invoices 2026-11-25: 2 imported, 1 failed"
    assert received.message.get_content_type() == "multipart/alternative"
    assert received.part("text/plain") == "Succeeded (2):\n  - contoso-csp:G1\n"
    assert received.part("text/html").strip() == html


def test_a_message_without_html_is_sent_as_a_single_text_plain_part(relay):
    send_message(SmtpSettings(HOST, relay.port), _message(html=None))
    (received,) = relay.messages
    assert received.message.get_content_type() == "text/plain"
    assert not received.message.is_multipart()
    assert "contoso-csp:G1" in received.message.get_content()


def test_a_subject_with_cr_lf_cannot_inject_headers_or_recipients(relay):
    hostile = "Invoices\r\nBcc: attacker@evil.example\r\nX-Injected: yes\n\nbody takeover"
    send_message(SmtpSettings(HOST, relay.port), _message(subject=hostile))
    (received,) = relay.messages
    assert received.rcpt_tos == RECIPIENTS
    assert received.message["Bcc"] is None
    assert received.message["X-Injected"] is None
    subject = received.subject
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("Invoices") and "attacker@evil.example" in subject  # kept as text, on one line
    assert b"\r\nBcc:" not in received.raw and b"\nX-Injected:" not in received.raw
    assert received.part("text/plain") == "Succeeded (2):\n  - contoso-csp:G1\n"


# Login -----------------------------------------------------------------------------------------------


def test_login_with_the_configured_user_and_password_on_a_relay_that_requires_auth(auth_relay, credentials):
    send_message(SmtpSettings(HOST, auth_relay.port, user=USER, password=PASSWORD), _message())
    assert [(login, password) for _, login, password in credentials.attempts] == [(USER.encode(), PASSWORD.encode())]
    (received,) = auth_relay.messages
    assert received.rcpt_tos == RECIPIENTS


def test_without_a_user_a_relay_that_requires_auth_refuses_and_mail_error_says_so(auth_relay, credentials):
    with pytest.raises(MailError) as raised:
        send_message(SmtpSettings(HOST, auth_relay.port), _message())
    assert f"{HOST}:{auth_relay.port}" in str(raised.value)
    assert "530" in str(raised.value) or "auth" in str(raised.value).lower()
    assert credentials.attempts == []
    assert auth_relay.messages == []


def test_a_wrong_password_raises_mail_error_that_does_not_contain_the_password(auth_relay):
    wrong = "Wr0ng-" + PASSWORD
    with pytest.raises(MailError) as raised:
        send_message(SmtpSettings(HOST, auth_relay.port, user=USER, password=wrong), _message())
    text = str(raised.value)
    assert "SMTPAuthenticationError" in text
    assert wrong not in text and PASSWORD not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert auth_relay.messages == []


def test_a_relay_that_is_down_raises_mail_error_naming_the_relay_but_never_the_password():
    port = free_port()  # nothing listens there
    settings = SmtpSettings(HOST, port, user=USER, password=PASSWORD, timeout_seconds=5)
    with pytest.raises(MailError) as raised:
        send_message(settings, _message())
    text = str(raised.value)
    assert f"via {HOST}:{port} failed" in text
    assert "ConnectionRefusedError" in text
    assert ", ".join(RECIPIENTS) in text
    assert PASSWORD not in text
    assert PASSWORD not in repr(settings)


# TLS -------------------------------------------------------------------------------------------------


def test_starttls_upgrades_the_connection_and_logs_in_over_it_when_the_relay_certificate_is_trusted(
    certificate, credentials, monkeypatch
):
    # The client uses ssl.create_default_context(): it trusts what SSL_CERT_FILE names (OpenSSL reads it).
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = SmtpRelay(
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=credentials,
        auth_required=True,
        auth_require_tls=True,
    ).start()
    try:
        send_message(SmtpSettings(HOST, server.port, "starttls", USER, PASSWORD), _message())
    finally:
        server.stop()
    assert len(credentials.attempts) == 1
    (received,) = server.messages
    assert received.rcpt_tos == RECIPIENTS


def test_starttls_refuses_an_untrusted_self_signed_certificate_with_a_clear_mail_error(
    certificate, tmp_path, monkeypatch
):
    (tmp_path / "elsewhere").mkdir()
    other_cert, _ = self_signed_certificate(tmp_path / "elsewhere")
    monkeypatch.setenv("SSL_CERT_FILE", str(other_cert))  # trusts some other certificate, not the relay's
    server = SmtpRelay(tls_context=_server_context(certificate), require_starttls=True).start()
    try:
        with pytest.raises(MailError) as raised:
            send_message(SmtpSettings(HOST, server.port, "starttls", USER, PASSWORD), _message())
    finally:
        server.stop()
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    assert server.messages == []


def test_starttls_mode_against_a_relay_without_starttls_fails_instead_of_sending_in_clear(relay):
    with pytest.raises(MailError) as raised:
        send_message(SmtpSettings(HOST, relay.port, "starttls", USER, PASSWORD), _message())
    assert "STARTTLS" in str(raised.value)
    assert relay.messages == []


def test_ssl_mode_speaks_tls_from_the_first_byte_to_a_relay_with_a_trusted_certificate(
    certificate, credentials, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    # aiosmtpd does not count an implicit-TLS connection as TLS for auth_require_tls; the socket is TLS anyway.
    server = SmtpRelay(
        ssl_context=_server_context(certificate), authenticator=credentials, auth_require_tls=False
    ).start()
    try:
        send_message(SmtpSettings(HOST, server.port, "ssl", USER, PASSWORD), _message())
    finally:
        server.stop()
    assert [login for _, login, _ in credentials.attempts] == [USER.encode()]
    (received,) = server.messages
    assert received.subject.startswith("Provider invoices 2026-11-25")


def test_ssl_mode_against_a_plain_relay_raises_mail_error(relay):
    with pytest.raises(MailError) as raised:
        send_message(SmtpSettings(HOST, relay.port, "ssl", timeout_seconds=5), _message())
    assert f"{HOST}:{relay.port}" in str(raised.value)
    assert relay.messages == []
