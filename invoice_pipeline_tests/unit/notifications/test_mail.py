"""The relay's settings from the INVOICE_PIPELINE_SMTP_* variables, and what sending does without a relay."""

from __future__ import annotations

import pytest

from invoice_pipeline.notifications.mail import NO_RELAY, MailError, SmtpSettings, build_message, send_message

USER, PASSWORD = "pipeline", "s3cr3t-Pa55word!"


def test_smtp_settings_come_from_the_invoice_pipeline_smtp_variables(monkeypatch):
    for name, value in {
        "INVOICE_PIPELINE_SMTP_HOST": "relay.example.com",
        "INVOICE_PIPELINE_SMTP_PORT": "2525",
        "INVOICE_PIPELINE_SMTP_TLS": "STARTTLS",
        "INVOICE_PIPELINE_SMTP_USER": USER,
        "INVOICE_PIPELINE_SMTP_PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(name, value)
    settings = SmtpSettings.from_environment()
    assert (settings.host, settings.port, settings.tls_mode, settings.user, settings.password) == (
        "relay.example.com",
        2525,
        "starttls",
        USER,
        PASSWORD,
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


def test_without_invoice_pipeline_smtp_host_no_relay_is_configured_even_with_the_other_variables_set(monkeypatch):
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD"):
        monkeypatch.delenv(f"INVOICE_PIPELINE_SMTP_{name}", raising=False)
    assert SmtpSettings.from_environment() == SmtpSettings(None, 25, "none", None, None)
    assert not SmtpSettings.from_environment().configured
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_PORT", "2525")
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_HOST", "  ")
    assert not SmtpSettings.from_environment().configured
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_HOST", "localhost")  # a local relay is named, never assumed
    assert SmtpSettings.from_environment() == SmtpSettings("localhost", 2525, "none", None, None)
    assert SmtpSettings.from_environment().configured


def test_smtp_settings_default_to_port_25_and_to_465_in_ssl_mode(monkeypatch):
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_HOST", "relay.example.com")
    monkeypatch.delenv("INVOICE_PIPELINE_SMTP_PORT", raising=False)
    monkeypatch.delenv("INVOICE_PIPELINE_SMTP_TLS", raising=False)
    assert SmtpSettings.from_environment().port == 25
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_TLS", "ssl")
    assert SmtpSettings.from_environment().port == 465


def test_sending_without_a_configured_relay_is_a_mail_error_saying_how_to_configure_one_and_connects_nowhere(
    monkeypatch,
):
    def no_connection(*args, **kwargs):
        raise AssertionError("no connection may be attempted without a relay")

    monkeypatch.setattr("smtplib.SMTP", no_connection)
    with pytest.raises(MailError) as raised:
        send_message(
            SmtpSettings(),
            build_message(sender="a@example.com", recipients=["b@example.com"], subject="s", text="t", html=None),
        )
    assert str(raised.value) == NO_RELAY
    assert "set INVOICE_PIPELINE_SMTP_HOST" in NO_RELAY and "The notification settings" in NO_RELAY


def test_an_unknown_tls_mode_is_a_mail_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_TLS", "tls1.3")
    with pytest.raises(MailError, match="INVOICE_PIPELINE_SMTP_TLS must be none, starttls or ssl"):
        SmtpSettings.from_environment()


def test_a_port_that_is_not_a_number_is_a_mail_error_naming_the_variable(monkeypatch):
    # The CLI turns MailError into one line; anything else reaches the user as a traceback.
    monkeypatch.setenv("INVOICE_PIPELINE_SMTP_PORT", "smtp")
    with pytest.raises(MailError, match="INVOICE_PIPELINE_SMTP_PORT"):
        SmtpSettings.from_environment()
