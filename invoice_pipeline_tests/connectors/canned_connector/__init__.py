"""A connector for the tests only: a provider whose invoices are canned in its settings.

Nothing of the pipeline names it: a test registers it with one line (`CONNECTORS["canned"] = CANNED`), and then a
configuration naming `connector: canned` loads, its settings are validated (secret guard included), and the
composition root builds it. It proves a new connector is its own package plus one registry line.
"""

from __future__ import annotations

import json

from pydantic import Field

from invoice_pipeline.connectors.base import ConnectorContext, ConnectorError, InvoiceFiles, OfferedInvoice
from invoice_pipeline.connectors.registry import Connector
from invoice_pipeline.connectors.settings import ConnectorSettings


class CannedSettings(ConnectorSettings):
    """A canned provider's settings: the invoices it offers (`invoices:`, at least one)."""

    invoices: list[str] = Field(min_length=1)


class CannedConnector:
    """Offers the invoices its settings name; fetching one writes its header into the connector's downloads."""

    def __init__(self, settings: CannedSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def list_invoices(self) -> list[OfferedInvoice]:
        """The canned invoices."""
        return [OfferedInvoice(invoice_id) for invoice_id in self.settings.invoices]

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """The invoice's header.json, written into `<downloads>/<invoice_id>/`; ConnectorError for another id."""
        if invoice_id not in self.settings.invoices:
            raise ConnectorError(f"{self.context.provider_id} has no invoice {invoice_id}")
        header = self.context.downloads / invoice_id / "header.json"
        header.parent.mkdir(parents=True, exist_ok=True)
        header.write_text(json.dumps({"invoice_id": invoice_id}), encoding="utf-8")
        return InvoiceFiles(invoice_id, header, limits=self.context.limits)


CANNED = Connector(CannedSettings, CannedConnector)
