"""The fake Partner Center for tests: a real HTTP server on loopback, and a workspace provider pointing at it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import yaml

from invoice_pipeline.composition import connector_for
from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_CLIENT_SECRET, FakeInvoice
from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.import_results import ImportResult
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.builders import ProviderWorkspace

SECRET_ENV = "PARTNER_CENTER_CLIENT_SECRET"
# Fast waits: backoff in hundredths of a second, Retry-After honoured but capped for the end-to-end tests.
FAST = {
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "max_retry_after_seconds": 0.05,
    "export_poll_seconds": 0,
    "max_attempts": 4,
    "timeout_seconds": 5,
}


def fast_settings(fake: PartnerCenterFake, **overrides: Any) -> dict[str, Any]:
    """`partner_center` settings pointing at the fake, with test-sized waits."""
    return fake.settings(**(FAST | overrides))


def use_partner_center(
    workspace: ProviderWorkspace, fake: PartnerCenterFake, provider: str = "contoso-csp", **overrides: Any
) -> None:
    """Turn the workspace's automatic provider into a Partner Center provider served by the fake."""
    data = yaml.safe_load(workspace.config_path.read_text())
    for entry in data["providers"]:
        if entry["id"] == provider:
            entry.pop("path", None)
            entry["connector"] = "partner_center"
            entry["partner_center"] = fast_settings(fake, **overrides)
    workspace.config_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def start_fake(monkeypatch: Any, secret: str = DEMO_CLIENT_SECRET, **kwargs: Any) -> PartnerCenterFake:
    """A started fake whose client secret is also in the environment variable the settings name."""
    monkeypatch.setenv(SECRET_ENV, secret)
    fake = PartnerCenterFake(client_secret=secret, **kwargs).start()
    fake.faults.poll_retry_after = "0"
    return fake


PROVIDER = "contoso-csp"


def serve(fake: PartnerCenterFake, *invoices: FakeInvoice) -> None:
    """Have the fake serve these invoices too."""
    for invoice in invoices:
        fake.invoices[invoice.invoice_id] = invoice


def import_invoice(workspace: ProviderWorkspace, warehouse: Warehouse, invoice_id: str) -> ImportResult:
    """Import one of contoso-csp's invoices through the connector and the import."""
    return import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey(PROVIDER, invoice_id), connectors=connector_for, actor="test"
    )


def stored_record(warehouse: Warehouse, invoice_id: str) -> dict[str, Any]:
    """The newest stored record of one of contoso-csp's invoices, as its row."""
    pi = t.provider_invoices
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.select(pi).where(pi.c.provider == PROVIDER, pi.c.invoice_id == invoice_id).order_by(pi.c.created_at)
        ).mappings()
        return dict(list(rows)[-1])


def billed_by_kind(warehouse: Warehouse) -> dict[str, Decimal]:
    """Net billed per customer document kind (invoice, credit_note) over the documents that are not void."""
    docs = t.customer_invoices
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.select(docs.c.kind, docs.c.total_amount).where(docs.c.status != "void")).all()
    billed: dict[str, Decimal] = {}
    for kind, total in rows:
        billed[kind] = billed.get(kind, Decimal(0)) + total
    return billed
