"""The Partner Center connector: a provider's invoices listed from the v1 API, each downloaded as a provider folder.

An invoice is written to `<downloads>/<invoice_id>/` in the provider folder format (header.json,
usage_summaries.csv, license_summaries.csv), built in a hidden partial folder and renamed into place only
when complete: a download interrupted half way never leaves a partial invoice.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from invoice_pipeline.config import PartnerCenterSettings, ProviderConfig
from invoice_pipeline.connectors.base import ConnectorError, InvoiceFiles, OfferedInvoice
from invoice_pipeline.connectors.partner_center.client import PARTNER_CENTER_SCOPE, PartnerCenterClient, field
from invoice_pipeline.connectors.partner_center.export import blob_line_items, run_export
from invoice_pipeline.connectors.partner_center.mapping import (
    DAILY_RATED,
    LICENSE_BASED,
    ONE_TIME,
    LineItemKind,
    LineSummaryFiles,
)
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN, check_invoice_id

NEW_COMMERCE_PROVIDERS = frozenset({"one_time", "onetime", "marketplace"})
BILLING_LINES, USAGE_LINES = "billing_line_items", "usage_line_items"


def _date_part(value: Any) -> str | None:
    return str(value)[:10] if value else None


class PartnerCenterConnector:
    """Reaches one provider's invoices in Microsoft Partner Center (v1 REST, v2 Graph export)."""

    def __init__(
        self, provider: ProviderConfig, downloads: Path, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if provider.partner_center is None:
            raise ValueError(f"provider {provider.id} has no partner_center settings")
        self.provider = provider
        self.settings: PartnerCenterSettings = provider.partner_center
        self.downloads = downloads
        self.sleep = sleep

    def client(self) -> PartnerCenterClient:
        """A client holding the secret from the environment variable the configuration names."""
        secret = os.environ.get(self.settings.client_secret_env)
        if not secret:
            raise ConnectorError(
                f"{self.provider.id}: the environment variable {self.settings.client_secret_env} is not set; "
                "set it to the Partner Center app's client secret"
            )
        return PartnerCenterClient(self.settings, secret, sleep=self.sleep)

    def list_invoices(self) -> list[OfferedInvoice]:
        """Every invoice Partner Center offers (all pages), with its total and currency for the change check."""
        offered = []
        with self.client() as client:
            size = self.settings.invoice_page_size
            for page in self._collection_pages(client, "/invoices", size):
                for invoice in field(page, "items") or []:
                    invoice_id = str(field(invoice, "id") or "")
                    if INVOICE_ID_PATTERN.fullmatch(invoice_id):
                        offered.append(OfferedInvoice(invoice_id, field(invoice, "currencyCode"), _total(invoice)))
        return offered

    def _collection_pages(self, client: PartnerCenterClient, path: str, size: int) -> Iterator[Any]:
        """Pages of a v1 collection: by `links.next` when Partner Center gives it, otherwise by offset."""
        offset = 0
        separator = "&" if "?" in path else "?"
        while True:
            pages = client.pages(
                client.api_url(f"{path}{separator}size={size}&offset={offset}"), scope=PARTNER_CENTER_SCOPE
            )
            page = next(pages)
            yield page
            if field(page, "links", "next"):
                yield from pages
                return
            # Without a next link, a full page may have a successor: ask until a page comes back short.
            count = len(field(page, "items") or [])
            offset += count
            if count < size:
                return

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """Download one invoice (header and every line) into its folder; all or nothing."""
        check_invoice_id(invoice_id)
        self.downloads.mkdir(parents=True, exist_ok=True)
        for stale in self.downloads.glob(f".{invoice_id}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a download that was killed
        partial = self.downloads / f".{invoice_id}.partial-{uuid.uuid4().hex[:12]}"
        partial.mkdir()
        try:
            with self.client() as client:
                line_files = self._download(client, invoice_id, partial)
            final = self.downloads / invoice_id
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return InvoiceFiles(
            invoice_id=invoice_id,
            header_path=final / "header.json",
            line_files={kind: final / path.name for kind, path in line_files.items()},
        )

    def _download(self, client: PartnerCenterClient, invoice_id: str, folder: Path) -> dict[str, Path]:
        invoice = client.get_json(client.api_url(f"/invoices/{quote(invoice_id)}"), scope=PARTNER_CENTER_SCOPE)
        if str(field(invoice, "id")) != invoice_id:
            raise ConnectorError(
                f"Partner Center answered invoice {field(invoice, 'id')!r} when asked for {invoice_id}"
            )
        header = {
            "invoice_id": invoice_id,
            "invoice_date": _date_part(field(invoice, "invoiceDate")),
            "billing_period_start": _date_part(field(invoice, "billingPeriodStartDate")),
            "billing_period_end": _date_part(field(invoice, "billingPeriodEndDate")),
            "currency": field(invoice, "currencyCode"),
            "total_amount": field(invoice, "totalCharges"),
        }
        # A field Partner Center did not send is left out: the header check then names it as missing.
        (folder / "header.json").write_text(
            json.dumps({k: v for k, v in header.items() if v is not None}, indent=2), encoding="utf-8"
        )
        with LineSummaryFiles(folder, invoice_id) as summaries:
            for kind, items in self._line_items(client, invoice, invoice_id, folder):
                for item in items:
                    summaries.write(item, kind)
        return summaries.paths

    def _line_items(
        self, client: PartnerCenterClient, invoice: dict[str, Any], invoice_id: str, folder: Path
    ) -> Iterator[tuple[LineItemKind, Iterator[dict[str, Any]]]]:
        """The invoice's line items by kind, from what its `invoiceDetails` say it holds."""
        details = {
            (str(field(d, "billingProvider") or "").lower(), str(field(d, "invoiceLineItemType") or "").lower())
            for d in field(invoice, "invoiceDetails") or []
        }
        unknown = sorted(
            f"{provider} {item_type}"
            for provider, item_type in details
            if not (provider == "office" and item_type == BILLING_LINES)
            and not (provider in NEW_COMMERCE_PROVIDERS and item_type in (BILLING_LINES, USAGE_LINES))
        )
        if unknown:
            # The reference documents no mapping for these (e.g. legacy azure usage-based lines): refuse, loudly.
            raise ConnectorError(
                f"invoice {invoice_id} holds line items this connector does not read ({', '.join(unknown)}); "
                "import it as a manual invoice"
            )
        if ("office", BILLING_LINES) in details:
            yield LICENSE_BASED, self._v1_items(client, invoice_id, "office", "billinglineitems")
        new_commerce = {item_type for provider, item_type in details if provider in NEW_COMMERCE_PROVIDERS}
        if BILLING_LINES in new_commerce:
            yield ONE_TIME, self._exported_items(client, invoice_id, "reconciliation", "billinglineitems", folder)
        if USAGE_LINES in new_commerce:
            yield DAILY_RATED, self._exported_items(client, invoice_id, "daily-rated usage", "usagelineitems", folder)

    def _v1_items(
        self, client: PartnerCenterClient, invoice_id: str, provider: str, item_type: str
    ) -> Iterator[dict[str, Any]]:
        """Line items from the v1 API, page by page (`links.next` with its continuation token header, or offset)."""
        path = f"/invoices/{quote(invoice_id)}/lineitems?provider={provider}&invoicelineitemtype={item_type}"
        for page in self._collection_pages(client, path, self.settings.line_item_page_size):
            for item in field(page, "items") or []:
                if isinstance(item, dict):
                    yield item

    def _exported_items(
        self, client: PartnerCenterClient, invoice_id: str, dataset: str, v1_item_type: str, folder: Path
    ) -> Iterator[dict[str, Any]]:
        """Line items from the v2 export, blob by blob; from v1 when the export has no data for the invoice."""
        blobs_folder = folder / ".blobs"
        blobs_folder.mkdir(exist_ok=True)
        found = False
        for blob in run_export(client, invoice_id, dataset, blobs_folder):
            found = True
            yield from blob_line_items(blob, f"the {dataset} export of invoice {invoice_id}")
            blob.path.unlink()
        blobs_folder.rmdir()
        if not found:
            yield from self._v1_items(client, invoice_id, "onetime", v1_item_type)


def _total(invoice: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(field(invoice, "totalCharges")))
    except InvalidOperation:
        return None
