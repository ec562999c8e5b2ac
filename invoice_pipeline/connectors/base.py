"""What every provider connector offers: the provider's invoices, and one invoice's files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol, runtime_checkable

# What to do with an invoice a connector cannot read: there is no manual import of an automatic provider's invoice.
BY_HAND = (
    "this connector cannot import it: create it by hand under a manual provider (one with `sync: manual`) with "
    "`invoice-pipeline invoices create PROVIDER:ID`, then activate it (README: Manual operations)"
)


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


@runtime_checkable
class LineFingerprints(Protocol):
    """A connector that can tell cheaply, each day, whether an invoice's lines changed at the provider."""

    def line_fingerprint(self, invoice_id: str) -> str:
        """The fingerprint of the invoice's line files as the provider has them now, or ConnectorError."""
        ...


def line_files_fingerprint(files: InvoiceFiles) -> str:
    """A SHA-256 over the invoice's line files as read (kind, file name and bytes of each): any change of a
    line (amount, customer, subscription, a line added or removed) changes it; the header does not."""
    fingerprint = hashlib.sha256()
    for kind, path in sorted(files.line_files.items()):
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        fingerprint.update(f"{kind}\t{path.name}\t{digest}\n".encode())
    return fingerprint.hexdigest()
