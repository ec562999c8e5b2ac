"""The Partner Center connector: a provider's invoices listed from the v1 API, each downloaded as a provider folder.

An invoice is written to `<downloads>/<invoice_id>/` in the provider folder format (header.json,
usage_summaries.csv, license_summaries.csv), built in a hidden partial folder and renamed into place only
when complete: a download interrupted half way never leaves a partial invoice.
"""

from __future__ import annotations

import csv
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

from invoice_pipeline.connectors.base import BY_HAND, ConnectorContext, ConnectorError, InvoiceFiles, OfferedInvoice
from invoice_pipeline.connectors.partner_center.answers import field
from invoice_pipeline.connectors.partner_center.client import PARTNER_CENTER_SCOPE, PartnerCenterClient
from invoice_pipeline.connectors.partner_center.export import blob_line_items, run_export
from invoice_pipeline.connectors.partner_center.mapping import (
    DAILY_RATED,
    LICENSE_BASED,
    ONE_TIME,
    LineItemKind,
    LineSummaryFiles,
    cell_text,
    date_text,
)
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterSettings
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN, check_invoice_id
from invoice_pipeline.domain.provider_documents import DocumentType, parse_document_type, voids_amended_invoice

NEW_COMMERCE_PROVIDERS = frozenset({"one_time", "onetime", "marketplace"})
BILLING_LINES, USAGE_LINES = "billing_line_items", "usage_line_items"
CONSUMPTION_AGGREGATES_FILE = "reconciliation_consumption.csv"


def _date_part(value: Any) -> str | None:
    """A Partner Center date-time as the ISO date it falls on in UTC (see mapping.date_text); None when absent."""
    return date_text(str(value)) if value else None


class PartnerCenterConnector:
    """Reaches one provider's invoices in Microsoft Partner Center (v1 REST, v2 Graph export)."""

    def __init__(
        self,
        settings: PartnerCenterSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.context = context
        self.downloads = context.downloads
        self.sleep = sleep

    def client(self) -> PartnerCenterClient:
        """A client holding the secret from the environment variable the configuration names."""
        secret = os.environ.get(self.settings.client_secret_env)
        if not secret:
            raise ConnectorError(
                f"{self.context.provider_id}: the environment variable {self.settings.client_secret_env} is not set; "
                "set it to the Partner Center app's client secret"
            )
        return self.new_client(secret)

    def new_client(self, secret: str) -> PartnerCenterClient:
        """A client for these settings holding `secret` (`providers check` observes its own)."""
        return PartnerCenterClient(self.settings, secret, sleep=self.sleep)

    def list_invoices(self) -> list[OfferedInvoice]:
        """Every document Partner Center lists (all pages, notes nested in `amendments` too), with its total and
        currency for the change check."""
        with self.client() as client:
            listed = self._listed(client)
        return [
            OfferedInvoice(invoice_id, field(document, "currencyCode"), _total(document))
            for invoice_id, document in listed.items()
        ]

    def _listed(self, client: PartnerCenterClient) -> dict[str, dict[str, Any]]:
        """The invoice collection by invoice id: each invoice, and each note nested in an invoice's `amendments`
        (Microsoft's collection example nests an adjustment note there), first listing kept."""
        listed: dict[str, dict[str, Any]] = {}
        for page in self._collection_pages(client, "/invoices", self.settings.invoice_page_size):
            for invoice in field(page, "items") or []:
                if not isinstance(invoice, dict):
                    continue
                notes = [note for note in field(invoice, "amendments") or [] if isinstance(note, dict)]
                for document in [invoice, *({"amendsOf": field(invoice, "id")} | note for note in notes)]:
                    invoice_id = str(field(document, "id") or "")
                    if INVOICE_ID_PATTERN.fullmatch(invoice_id):
                        listed.setdefault(invoice_id, document)
        return listed

    def _collection_pages(self, client: PartnerCenterClient, path: str, size: int) -> Iterator[Any]:
        """Pages of a v1 collection: by `links.next` when Partner Center gives it, otherwise by offset."""
        offset = 0
        separator = "&" if "?" in path else "?"
        first_items: list[Any] = []
        while True:
            pages = client.pages(
                client.api_url(f"{path}{separator}size={size}&offset={offset}"), scope=PARTNER_CENTER_SCOPE
            )
            page = next(pages)
            items = field(page, "items") or []
            # Microsoft: "For all modern commercial purchases, pagesize & offset will be ignored": a server that
            # ignores the offset answers the same full page again; stop instead of asking forever.
            if offset and items and items == first_items:
                raise ConnectorError(
                    f"GET {path}: Partner Center answered the same page for offset {offset} as for offset 0, without "
                    "a next link; nothing was imported"
                )
            first_items = items if not offset else first_items
            yield page
            if field(page, "links", "next"):
                yield from pages
                return
            # Without a next link, a full page may have a successor: ask until a page comes back short.
            offset += len(items)
            if len(items) < size:
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
            limits=self.context.limits,
        )

    def _download(self, client: PartnerCenterClient, invoice_id: str, folder: Path) -> dict[str, Path]:
        # The header comes from the invoice collection: "Get invoice by ID" supports App+User credentials only
        # (learn.microsoft.com/partner-center/developer/get-invoice-by-id), this connector holds app credentials.
        listed = self._listed(client)
        invoice = listed.get(invoice_id)
        if invoice is None:
            raise ConnectorError(
                f"Partner Center's invoice collection (GET /v1/invoices) does not list invoice {invoice_id}; "
                "nothing was imported"
            )
        document = _document_type(invoice, invoice_id)
        amends = field(invoice, "amendsOf")
        lines = _LinesRead(field(invoice, "currencyCode"))
        voids = voids_amended_invoice(document, has_lines=bool(field(invoice, "invoiceDetails")))
        if voids and amends and str(amends) not in listed:
            raise ConnectorError(
                f"{document.value.replace('_', ' ')} {invoice_id} voids {amends}, which Partner Center's invoice "
                "collection does not list; nothing was imported: ask Microsoft which invoice it voids"
            )
        if voids:
            # A void note (or a credit note without line items) withdraws the invoice it amends; its own line
            # items, if any, are that invoice's negated and are not imported (see domain/provider_documents.py).
            paths: dict[str, Path] = {}
            charge_span = None
        else:
            with LineSummaryFiles(folder, invoice_id) as summaries:
                for kind, items in self._line_items(client, invoice, invoice_id, folder, lines):
                    for item in items:
                        summaries.write(item, kind)
            paths, charge_span = summaries.paths, summaries.charge_span
            if document == DocumentType.CREDIT_NOTE and not paths:
                # Imported without line files it would void the invoice it amends, which it does not claim to do.
                raise ConnectorError(
                    f"credit note {invoice_id} lists line items (invoiceDetails) but Partner Center returned none; "
                    "nothing was imported, the next sync retries it"
                )
            lines.write_consumption_aggregates(folder / CONSUMPTION_AGGREGATES_FILE, invoice_id)
        total = _total(invoice)
        invoice_date = _date_part(field(invoice, "invoiceDate"))
        # Microsoft's collection example carries no billing period (only "Get invoice by ID", App+User only, does):
        # without it the period is the span of the lines' charges, or the invoice date for a document without lines.
        start, end = (
            _date_part(field(invoice, "billingPeriodStartDate")),
            _date_part(field(invoice, "billingPeriodEndDate")),
        )
        if not (start and end):
            start, end = charge_span or (invoice_date, invoice_date)
        header = {
            "invoice_id": invoice_id,
            "invoice_date": invoice_date,
            "billing_period_start": start,
            "billing_period_end": end,
            "currency": field(invoice, "currencyCode"),
            # totalCharges is the amount due, tax included; the lines are before tax: compare like with like.
            "total_amount": field(invoice, "totalCharges") if total is None else format(total - lines.tax, "f"),
            "tax_amount": format(lines.tax, "f"),
            "document_type": document.value,
            "amends_invoice_id": amends,
        }
        # A field Partner Center did not send is left out: the header check then names it as missing.
        (folder / "header.json").write_text(
            json.dumps({k: v for k, v in header.items() if v is not None}, indent=2), encoding="utf-8"
        )
        return paths

    def _line_items(
        self,
        client: PartnerCenterClient,
        invoice: dict[str, Any],
        invoice_id: str,
        folder: Path,
        lines: _LinesRead,
    ) -> Iterator[tuple[LineItemKind, Iterator[dict[str, Any]]]]:
        """The invoice's line items by kind, from what its `invoiceDetails` say it holds; daily-rated usage
        first, so that the reconciliation's consumption aggregates are known to be detailed there."""
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
                f"invoice {invoice_id} holds line items this connector does not read ({', '.join(unknown)}); " + BY_HAND
            )
        new_commerce = {item_type for provider, item_type in details if provider in NEW_COMMERCE_PROVIDERS}
        if new_commerce:
            # Asked for every new-commerce invoice: its reconciliation's Azure plan charges are detailed there even
            # when `invoiceDetails` lists no usage line items (no Microsoft example shows that pair). v1 is asked only
            # when it is listed; billed daily-rated line items need the invoice's currency and `period`
            # (get-invoice-billed-consumption-lineitems: both "Required"; example: currencycode=usd&period=previous).
            currency = quote(str(field(invoice, "currencyCode") or ""))
            v1_query = (
                f"usagelineitems&currencycode={currency}&period=previous" if USAGE_LINES in new_commerce else None
            )
            usage = self._exported_items(client, invoice_id, "daily-rated usage", folder, v1_query)
            yield DAILY_RATED, lines.usage(usage)
        if ("office", BILLING_LINES) in details:
            yield LICENSE_BASED, lines.billed(self._v1_items(client, invoice_id, "office", "billinglineitems"))
        if BILLING_LINES in new_commerce:
            reconciliation = self._exported_items(client, invoice_id, "reconciliation", folder, "billinglineitems")
            yield ONE_TIME, lines.reconciliation(reconciliation, invoice_id)

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
        self, client: PartnerCenterClient, invoice_id: str, dataset: str, folder: Path, v1_item_type: str | None
    ) -> Iterator[dict[str, Any]]:
        """Line items from the v2 export, blob by blob; from v1 when the export has no data for the invoice
        (`v1_item_type`: the invoicelineitemtype and any further query v1 needs for the same lines)."""
        blobs_folder = folder / ".blobs"
        blobs_folder.mkdir(exist_ok=True)
        found = False
        for blob in run_export(client, invoice_id, dataset, blobs_folder):
            found = True
            yield from blob_line_items(blob, f"the {dataset} export of invoice {invoice_id}")
            blob.path.unlink()
        blobs_folder.rmdir()
        if not found and v1_item_type is not None:
            yield from self._v1_items(client, invoice_id, "onetime", v1_item_type)


def _document_type(invoice: dict[str, Any], invoice_id: str) -> DocumentType:
    """The document's kind (`documentType`; an invoice when Partner Center does not say)."""
    written = field(invoice, "documentType")
    try:
        return parse_document_type(str(written)) if written else DocumentType.INVOICE
    except ValueError as error:
        raise ConnectorError(f"invoice {invoice_id}: {error}; {BY_HAND}") from None


def _exact(value: Any) -> Decimal:
    """A provider amount as an exact Decimal (empty: zero)."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        raise ConnectorError(f"Partner Center sent {str(value)[:40]!r} where an amount belongs") from None


class _LinesRead:
    """What the connector learns while the line items stream past: the tax they carry, and the reconciliation's
    consumption aggregates, taken from the daily-rated usage instead so that no charge is counted twice."""

    def __init__(self, currency: Any) -> None:
        self.currency = str(currency or "")
        self.tax = Decimal(0)
        self.usage_lines = 0
        self.consumption_aggregates: list[dict[str, Any]] = []

    def usage(self, items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Daily-rated usage: counted (it carries no tax; its tax is on the reconciliation's aggregates)."""
        for item in items:
            self.usage_lines += 1
            yield item

    def billed(self, items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Licence-based lines: their `tax` added up."""
        for item in items:
            self.tax += _exact(field(item, "tax"))
            yield item

    def reconciliation(self, items: Iterator[dict[str, Any]], invoice_id: str) -> Iterator[dict[str, Any]]:
        """Reconciliation lines: their `taxTotal` added up; consumption aggregates set aside (see below)."""
        for item in items:
            self.tax += _exact(field(item, "taxTotal"))
            if is_consumption_aggregate(item):
                self.consumption_aggregates.append(item)
            else:
                yield item
        if self.consumption_aggregates and not self.usage_lines:
            amount = sum((_exact(field(item, "subtotal")) for item in self.consumption_aggregates), Decimal(0))
            raise ConnectorError(
                f"invoice {invoice_id}: {len(self.consumption_aggregates)} Azure consumption line(s) of the "
                f"reconciliation ({format(amount, 'f')} {self.currency}) are detailed in the daily-rated usage, but "
                "the daily-rated usage has no lines for this invoice yet (Microsoft's daily-rated file is usually "
                "complete by about the 11th of the month); nothing was imported, the next sync retries it"
            )

    def write_consumption_aggregates(self, path: Path, invoice_id: str) -> None:
        """Keep the aggregates set aside with the download, as Partner Center sent them, for audit."""
        if not self.consumption_aggregates:
            return
        names: dict[str, None] = {}
        for item in self.consumption_aggregates:
            names |= dict.fromkeys(item)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["invoice_id", *names])
            writer.writeheader()
            for item in self.consumption_aggregates:
                writer.writerow({"invoice_id": invoice_id} | {k: cell_text(v) for k, v in item.items()})


def is_consumption_aggregate(item: dict[str, Any]) -> bool:
    """A reconciliation line that sums Azure plan consumption the daily-rated usage details day by day: it names
    a meter (`meterDescription`, "the meter description for consumption line item", invoice-resources) and is no
    reservation (the daily-rated usage "doesn't include the charges for ... Azure reservation",
    get-invoice-billed-consumption-lineitems)."""
    return bool(field(item, "meterDescription")) and not field(item, "reservationOrderId")


def _total(invoice: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(field(invoice, "totalCharges")))
    except InvalidOperation:
        return None
