"""Secrets are masked wherever they would be shown: a URL's password (in its user part or its options), a
registered secret in any text."""

from __future__ import annotations

import pytest

from invoice_pipeline.domain import redaction


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://billing:s3cret@db:5432/invoices", "postgresql+psycopg://billing:***@db:5432/invoices"),
        # A raw @ in the password: the host is after the last @.
        ("postgresql+psycopg://billing:ab@cd@db:5432/invoices", "postgresql+psycopg://billing:***@db:5432/invoices"),
        ("postgresql+psycopg://billing:s3cr@et:PW@db:99999/x", "postgresql+psycopg://billing:***@db:99999/x"),
        (
            "postgresql+psycopg://billing@db/invoices?password=s3cret",
            "postgresql+psycopg://billing@db/invoices?password=***",
        ),
        ("duckdb:////data/warehouse.duckdb", "/data/warehouse.duckdb"),
    ],
)
def test_a_urls_password_is_masked_even_when_it_holds_an_at_sign(url, shown):
    assert redaction.masked_url(url) == shown


def test_an_options_password_holding_an_ampersand_is_masked_whole():
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/nosuchdb?options=-c%20password%3DAb%26Zq9%2BSx%2F7kP%3DaB3dEf"
    redaction.register_url(url)

    shown = redaction.masked_url(url)

    assert "Zq9" not in shown and "aB3dEf" not in shown and "%26" not in shown
    assert (
        redaction.redact('server said: password "Ab&Zq9+Sx/7kP=aB3dEf" is wrong')
        == 'server said: password "***" is wrong'
    )
