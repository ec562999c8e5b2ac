"""What every provider connector offers: the provider's invoices, and one invoice's files."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol


class ConnectorError(Exception):
    """The provider could not hand over an invoice; the message says what the provider answered."""


@dataclass(frozen=True)
class OfferedInvoice:
    """An invoice the provider offers, with its header total when the provider tells it."""

    invoice_id: str
    currency: str | None = None
    total_amount: Decimal | None = None


@dataclass(frozen=True)
class InvoiceFiles:
    """One provider invoice as files on local disk: its header and line summary files by kind."""

    invoice_id: str
    header_path: Path
    line_files: dict[str, Path] = field(default_factory=dict)


class ProviderConnector(Protocol):
    """Reaches one provider's invoices."""

    def list_invoices(self) -> list[OfferedInvoice]:
        """The invoices the provider offers now."""
        ...

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """The files of one invoice, or ConnectorError."""
        ...
