"""Provider change emails: a change of the lines that keeps the header total is mailed once, saying so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import NotificationsConfig
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.notifications.mail import SmtpSettings
from invoice_pipeline.notifications.provider_changes import notify_provider_changes
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import license_line, usage_line
from invoice_pipeline_tests.smtp_relay import RECIPIENTS, SENDER, SmtpRelay

# Provider changes are kept in the warehouse's operations log: run on both engines.
pytestmark = pytest.mark.engine_contract
KEY = InvoiceKey("contoso-csp", "G1")


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    """A plain relay that keeps what it accepts."""
    server = SmtpRelay().start()
    yield server
    server.stop()


def _notify(warehouse, relay: SmtpRelay) -> list[str]:
    settings = NotificationsConfig(recipients=RECIPIENTS, sender=SENDER)
    return notify_provider_changes(OperationsLog(warehouse), settings, SmtpSettings(host=relay.host, port=relay.port))


def test_a_line_change_keeping_the_total_is_mailed_once_saying_the_lines_changed(workspace, warehouse, relay):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "11.00")], license=[license_line("L1", "35.00")])
    plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test-sync"
    )

    assert _notify(warehouse, relay) == []
    plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test-sync"
    )
    assert _notify(warehouse, relay) == []

    (mail,) = relay.messages
    assert mail.subject == "Provider invoice contoso-csp:G1 changed at the provider: lines changed, total 46.00 USD"
    text = mail.part("text/plain")
    assert "Provider's lines:     changed since the import (the header total is the same)" in text
    assert "The imported invoice was NOT updated." in text
    assert "lines" in mail.part("text/html") and "changed since the import" in mail.part("text/html")


def test_a_total_change_is_still_mailed_with_both_totals(workspace, warehouse, relay):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, actor="test")
    workspace.add_invoice(KEY.invoice_id, total="12.00")
    plan_sync(
        workspace.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test-sync"
    )
    assert _notify(warehouse, relay) == []
    (mail,) = relay.messages
    assert mail.subject == "Provider invoice contoso-csp:G1 changed at the provider: 10.00 -> 12.00 USD"
    assert "Provider's lines" not in mail.part("text/plain")
