"""The folder connector: a provider's invoices dropped as `<path>/<invoice_id>/` folders."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from invoice_pipeline.connectors.base import (
    ConfiguredProvider,
    ConnectorContext,
    ConnectorError,
    InvoiceFiles,
    OfferedInvoice,
    ProviderFileRefused,
    line_files_fingerprint,
    open_regular_file,
    regular_file_status,
)
from invoice_pipeline.connectors.settings import ConfigFolder, ConnectorSettings
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN, InvalidInvoiceKey, check_invoice_id
from invoice_pipeline.domain.line_kinds import LineKind

LINE_FILE_STEMS = {LineKind.USAGE: "usage_summaries", LineKind.LICENSE: "license_summaries"}
LINE_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
HEADER_FILE = "header.json"
HEADER_MAX_BYTES = 1000**2  # a header is a handful of fields: a larger one is refused unread


class FolderSettings(ConnectorSettings):
    """A folder provider's setting: `path`, the folder its invoices are dropped in (relative to the configuration
    file's folder)."""

    path: ConfigFolder

    @property
    def folder(self) -> Path:
        """The folder the provider's invoices are read from."""
        return self.path


class FolderConnector:
    """Reads `<path>/<invoice_id>/header.json` plus `usage_summaries` and `license_summaries` files.

    Only regular files directly inside the invoice folder are read: a file that is a link (wherever it points) or
    not a regular file (FIFO, device, socket, folder) is refused naming it, never opened.
    """

    def __init__(self, settings: FolderSettings, context: ConnectorContext) -> None:
        self.provider_id = context.provider_id
        self.limits = context.limits
        self.root = settings.path.resolve()

    def _invoice_folder(self, invoice_id: str) -> Path:
        check_invoice_id(invoice_id)
        folder = (self.root / invoice_id).resolve()
        if folder.parent != self.root:
            raise ConnectorError(f"invoice folder {invoice_id} points outside {self.root}; refusing to read it")
        return folder

    def list_invoices(self) -> list[OfferedInvoice]:
        """Every invoice folder with a header.json, with the header's total when it can be read."""
        offered = []
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not INVOICE_ID_PATTERN.fullmatch(folder.name):
                continue
            if folder.resolve().parent != self.root:
                continue  # a link to somewhere else: never read (fetching it is refused with a message)
            if not _exists(folder / HEADER_FILE):
                continue  # a header.json that is not a regular file is offered: importing it says why it is refused
            currency, total = _peek_total(folder / HEADER_FILE)
            offered.append(OfferedInvoice(folder.name, currency, total))
        return offered

    def invalid_folders(self) -> dict[str, str]:
        """Folders that are never read, by name, each with why and how to fix it (a person renames or moves them)."""
        return _invalid_folders(self.root)

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """The header and line files of one invoice folder."""
        folder = self._invoice_folder(invoice_id)
        header = folder / HEADER_FILE
        if regular_file_status(header) is None:
            raise ConnectorError(f"{self.provider_id} has no invoice {invoice_id}: {header} does not exist")
        line_files: dict[str, Path] = {}
        for kind, stem in LINE_FILE_STEMS.items():
            candidates = [folder / f"{stem}{suffix}" for suffix in LINE_FILE_SUFFIXES]
            found = [path for path in candidates if regular_file_status(path) is not None]
            if len(found) > 1:
                names = ", ".join(p.name for p in found)
                raise ConnectorError(f"invoice {invoice_id} has more than one {stem} file ({names}); keep exactly one")
            if found:
                line_files[kind] = found[0]
        return InvoiceFiles(invoice_id=invoice_id, header_path=header, line_files=line_files, limits=self.limits)

    def line_fingerprint(self, invoice_id: str) -> str:
        """The fingerprint of the invoice folder's line files now (hashing the files, nothing parsed)."""
        return line_files_fingerprint(self.fetch_invoice(invoice_id))


@dataclass(frozen=True)
class FolderNotRead:
    """A folder of a folder provider that is never read (a name that is not an invoice id, a link outside)."""

    provider: str
    folder: str  # shown safely: escaped, at most 80 characters
    reason: str  # why, and how to fix it

    def as_row(self) -> dict[str, str]:
        """The folder as a table row (the daily sync's metadata)."""
        return {"provider": self.provider, "folder": self.folder, "reason": self.reason}


def folders_not_read(provider: ConfiguredProvider) -> list[FolderNotRead]:
    """The folders of a folder provider that are never read: provider, folder (shown safely) and reason.

    Other connectors have no folders: none. A provider folder that cannot be listed is one row, folder ".", saying
    why.
    """
    if not isinstance(provider.settings, FolderSettings):
        return []
    try:
        refused = _invalid_folders(provider.settings.path.resolve())
    except OSError as error:
        return [FolderNotRead(provider.id, ".", f"cannot be listed ({error}); check providers.path")]
    return [
        FolderNotRead(provider.id, name.encode("unicode_escape").decode("ascii")[:80], reason)
        for name, reason in refused.items()
    ]


def _invalid_folders(root: Path) -> dict[str, str]:
    """The folders under `root` that are never read, by name, each with why and how to fix it (a person renames or
    moves them)."""
    refused = {}
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        try:
            check_invoice_id(folder.name)
        except InvalidInvoiceKey as error:
            refused[folder.name] = f"{error}; rename the folder to its invoice id"
            continue
        if folder.resolve().parent != root:
            refused[folder.name] = f"a link to {folder.resolve()}, outside {root}; move the folder itself here"
    return refused


def _exists(path: Path) -> bool:
    """Whether there is anything by that name (a link, even dangling, included; nothing followed)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _peek_total(header: Path) -> tuple[str | None, Decimal | None]:
    """The header's currency and total when it is a regular file that can be read; else nothing (never followed
    nor opened when it is a link or not a regular file: importing the invoice refuses it saying why)."""
    try:
        with open_regular_file(header) as handle:
            content = handle.read(HEADER_MAX_BYTES + 1)
        if len(content) > HEADER_MAX_BYTES:
            return None, None
        data = json.loads(content.decode("utf-8-sig"), parse_float=Decimal)
        currency = data.get("currency")
        return (str(currency) if currency is not None else None), Decimal(str(data.get("total_amount")))
    except (ValueError, InvalidOperation, AttributeError, TypeError, OSError, ProviderFileRefused):
        return None, None
